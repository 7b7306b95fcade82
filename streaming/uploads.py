"""Transcode uploaded videos: Kafka `uploads` -> chunked transcode -> HLS/DASH + Delta catalog.

The batch logic is vodlake.catalog.stream; this file parses options, builds the session and
starts the query.
"""

from __future__ import annotations

import os
import sys

from vodlake.catalog.stream import start, with_local_retries
from vodlake.errors import run_entrypoint
from vodlake.runtime import config_from, job_parser, spark_from


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("Transcode uploaded videos: Kafka uploads -> HLS/DASH + Delta catalog.")
    parser.add_argument("--once", action="store_true", help="process what is there, then stop")
    args = parser.parse_args(argv)
    cfg = config_from(args)
    if args.master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        # not under spark-submit: let local mode retry failed tasks like a cluster would
        args.master = with_local_retries(cfg.spark.master, cfg.transcode.max_attempts)
    spark = spark_from(args, cfg, "vodlake-stream-uploads")
    # awaitTermination raises the query's exception, so a failed query exits non-zero
    start(spark, cfg, once=args.once or None).awaitTermination()
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
