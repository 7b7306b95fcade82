"""The main job: the whole platform on embedded defaults, end to end, with a summary.

`vodlake demo` (or `spark-submit jobs/demo.py`) starts the local services when needed, runs each
stage, prints the count at every hop, and stops what it started. Each stage is a function
`(DemoContext) -> list[(label, value)]` so the demo grows one stage per feature.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession

from vodlake import kafka_io, services
from vodlake.config import Config
from vodlake.errors import run_entrypoint
from vodlake.jobs import _analytics_io as io
from vodlake.runtime import config_from, job_parser, spark_from
from vodlake.search import client as es_client
from vodlake.search import index_name
from vodlake.tables import Tables


@dataclass
class DemoContext:
    cfg: Config
    spark: SparkSession
    args: object
    log: Callable[[str], None]
    summary: list[tuple[str, object]] = field(default_factory=list)


def demo_records(n: int, seed: int = 7) -> list[dict[str, object]]:
    """n small JSON events over 100 videos, with per-video increasing seq (deterministic)."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    titles = ["Ocean Deep", "City Lights", "Mountain Echo", "Desert Wind", "Forest Song"]
    rng = uuid.UUID(int=seed)
    out = []
    for i in range(n):
        vid = f"v{i % 100:03d}"
        out.append(
            {
                "event_id": str(uuid.uuid5(rng, str(i))),
                "video_id": vid,
                "title": f"{titles[i % len(titles)]} {i % 100}",
                "seq": i // 100,
                "event_time": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            }
        )
    return out


def _reset_demo_resources(ctx: DemoContext, topic: str, index: str) -> None:
    """The demo owns its topic, table, checkpoint and index: start each run from empty."""
    kafka_io.delete_topic(ctx.cfg, topic)
    es_client(ctx.cfg).options(ignore_status=404).indices.delete(index=index)
    tables = Tables(ctx.cfg)
    for uri in (tables.path("demo_events"), tables.checkpoint("demo_events")):
        io.delete(ctx.spark, uri)


def stage_foundation(ctx: DemoContext) -> list[tuple[str, object]]:
    """Kafka -> Structured Streaming (availableNow) -> Delta -> Elasticsearch -> one search."""
    from vodlake.streaming import demo_events

    cfg = ctx.cfg
    topic, index = cfg.kafka.topics.demo, index_name(cfg, "demo-events")
    _reset_demo_resources(ctx, topic, index)
    kafka_io.ensure_topic(cfg, topic)
    n = cfg.demo.events
    ctx.log(f"producing {n:,} events to Kafka topic '{topic}'")
    produced = kafka_io.produce(
        cfg, topic, demo_records(n), key="video_id", progress=lambda k: ctx.log(f"  sent {k:,}")
    )
    in_topic = sum(kafka_io.end_offsets(cfg, topic).values())
    ctx.log("streaming Kafka -> Delta -> Elasticsearch (availableNow)")
    query = demo_events.start(ctx.spark, cfg, topic=topic, es_index=index, once=True)
    query.awaitTermination()
    if query.exception():
        raise RuntimeError(f"streaming query failed: {query.exception()}")
    delta_rows = Tables(cfg).read(ctx.spark, "demo_events").count()
    es = es_client(cfg)
    es.indices.refresh(index=index)
    indexed = es.count(index=index)["count"]
    hits = es.search(index=index, query={"match": {"title": "ocean"}}, size=0)
    found = hits["hits"]["total"]["value"]
    return [
        ("events produced to Kafka", produced),
        ("records in Kafka topic", in_topic),
        ("rows in Delta demo_events", delta_rows),
        ("documents in Elasticsearch", indexed),
        ("search 'ocean' hits", found),
    ]


def _lazy(module: str) -> Callable[[DemoContext], list[tuple[str, object]]]:
    """A stage from jobs/_demo_<area>.py, imported only when it runs."""

    def run(ctx: DemoContext) -> list[tuple[str, object]]:
        import importlib

        return importlib.import_module(f"vodlake.jobs.{module}").stage(ctx)

    return run


# The order follows the data: uploads feed the catalog that search indexes and playback uses.
STAGES: list[tuple[str, Callable[[DemoContext], list[tuple[str, object]]]]] = [
    ("foundation: Kafka -> Delta -> Elasticsearch", stage_foundation),
    ("upload -> chunked transcode -> HLS/DASH -> catalog", _lazy("_demo_transcode")),
    ("search: catalog -> Elasticsearch, typo-tolerant search", _lazy("_demo_search")),
    ("playback telemetry: Kafka -> bronze + silver", _lazy("_demo_playback")),
    ("nightly analytics: popularity -> placement -> evaluation", _lazy("_demo_analytics")),
]


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("Run the vodlake platform end to end on embedded defaults.", "vodlake demo")
    parser.add_argument(
        "--no-start-services",
        action="store_true",
        help="fail if Kafka or Elasticsearch is not running instead of starting them",
    )
    parser.add_argument(
        "--keep-services", action="store_true", help="leave services it started running"
    )
    parser.add_argument("--events", type=int, default=None, help="events for the foundation stage")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="N",
        type=int,
        help="run only stage N (1-based, repeatable); later stages need earlier ones' data",
    )
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.events:
        overrides.append(f"demo.events={args.events}")
    args.overrides = overrides
    cfg = config_from(args)
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    log("checking Kafka and Elasticsearch")
    started = services.require(cfg, services.SERVICE_NAMES, start=not args.no_start_services)
    if started:
        log(f"started {', '.join(started)}")
    try:
        spark = spark_from(args, cfg, "vodlake-demo")
        ctx = DemoContext(cfg=cfg, spark=spark, args=args, log=log)
        chosen = [s for i, s in enumerate(STAGES, 1) if not args.only or i in args.only]
        for title, stage in chosen:
            log(f"== {title}")
            t_stage = time.monotonic()
            rows = stage(ctx)
            ctx.summary.append((f"-- {title}", f"{time.monotonic() - t_stage:.1f}s"))
            ctx.summary.extend(rows)
        spark.stop()
    finally:
        if started and not args.keep_services:
            log(f"stopping {', '.join(started)}")
            services.down(cfg, started)
    width = max(len(label) for label, _ in ctx.summary)
    print("\nvodlake demo summary")
    for label, value in ctx.summary:
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        print(f"  {label:<{width}}  {shown}")
    print(f"  {'elapsed':<{width}}  {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
