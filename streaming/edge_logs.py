"""Stream edge request logs: Kafka `edge-logs` -> bronze + edge_requests + quarantine.

The ingest itself (exactly once by request_id, quarantine with a reason) is
vodlake.delivery.logs; this file parses options, builds the session and runs it.
"""

from __future__ import annotations

import sys

from vodlake.delivery.logs import start_ingest, table_counts
from vodlake.errors import run_entrypoint
from vodlake.lake import kafka_io
from vodlake.runtime import config_from, job_parser, spark_from
from vodlake.telemetry.ingest import await_query


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Stream edge request logs: Kafka edge-logs -> bronze + edge_requests + quarantine.",
        "vodlake stream edge_logs",
    )
    parser.add_argument("--once", action="store_true", help="process what is there, then stop")
    parser.add_argument(
        "--topic", default=None, help="Kafka topic (default kafka.topics.edge_logs)"
    )
    args = parser.parse_args(argv)
    cfg = config_from(args)
    topic = args.topic or cfg.kafka.topics.edge_logs
    kafka_io.ensure_topic(cfg, topic)
    spark = spark_from(args, cfg, "vodlake-stream-edge-logs")
    await_query(start_ingest(spark, cfg, topic=topic, once=args.once or None))
    if args.once:
        counts = table_counts(spark, cfg)
        print(", ".join(f"{name}: {n:,} rows" for name, n in counts.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
