"""Stream demo events from Kafka to Delta and Elasticsearch (the foundation stage's query)."""

from __future__ import annotations

import sys

from vodlake.demo.events import start
from vodlake.errors import run_entrypoint
from vodlake.runtime import config_from, job_parser, spark_from


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("Stream demo events from Kafka to Delta and Elasticsearch.")
    parser.add_argument("--once", action="store_true", help="process what is there, then stop")
    args = parser.parse_args(argv)
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-stream-demo")
    start(spark, cfg, once=args.once or None).awaitTermination()
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
