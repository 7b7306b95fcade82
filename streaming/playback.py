"""Stream playback events: Kafka -> bronze_playback + silver_playback + quarantine_playback.

The ingest itself (exactly once, quarantine with a reason, the quality suite, the dedupe) is
vodlake.telemetry.ingest; this file parses options, builds the session and runs it.
"""

from __future__ import annotations

import logging
import sys

from vodlake.errors import run_entrypoint
from vodlake.lake import kafka_io
from vodlake.runtime import config_from, job_parser, spark_from
from vodlake.telemetry.ingest import log, run, table_counts


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Stream playback events: Kafka -> bronze_playback + silver_playback + quarantine.",
        "vodlake stream playback",
    )
    parser.add_argument("--once", action="store_true", help="process what is there, then stop")
    parser.add_argument("--topic", default=None, help="Kafka topic (default kafka.topics.playback)")
    parser.add_argument(
        "--timings", action="store_true", help="print a line of seconds per step for each batch"
    )
    args = parser.parse_args(argv)
    if args.timings:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    cfg = config_from(args)
    topic = args.topic or cfg.kafka.topics.playback
    kafka_io.ensure_topic(cfg, topic)
    spark = spark_from(args, cfg, "vodlake-stream-playback")
    run(spark, cfg, once=args.once or None, topic=topic)
    if args.once:
        counts = table_counts(spark, cfg)
        print(", ".join(f"{name}: {n:,} rows" for name, n in counts.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
