"""The demo's stages and their runner: the whole platform end to end, with a summary.

`run_demo` starts the local services when needed, runs each stage in the demo namespace
(vodlake.demo.namespace), prints the count at every hop, and stops what it started. Each stage
is a `Stage`: a function `(DemoContext) -> list[(label, value)]`, so the demo grows one stage per
feature, and the resources it resets (`ctx.reset` deletes them only after checking that every
one is the demo's own).
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession

from vodlake import services
from vodlake.config import Config
from vodlake.demo.namespace import PREFIX, DemoResources, check_owned, demo_config
from vodlake.lake import fs, kafka_io
from vodlake.lake.session import get_spark
from vodlake.lake.tables import Tables
from vodlake.search.index import client as es_client
from vodlake.search.index import index_name


@dataclass
class DemoContext:
    """What a stage gets: `cfg` is the demo namespace, `production` the config it came from."""

    cfg: Config
    production: Config
    spark: SparkSession
    log: Callable[[str], None]
    summary: list[tuple[str, object]] = field(default_factory=list)

    def reset(self, resources: DemoResources) -> None:
        """Delete demo-owned topics, paths and indices. Every name is checked first: one outside
        the namespace raises before anything is deleted."""
        check_owned(self.cfg, self.production, resources)
        for topic in resources.topics:
            kafka_io.delete_topic(self.cfg, topic)
        for uri in resources.paths:
            fs.delete(self.spark, uri)
        if resources.indices:
            es = es_client(self.cfg).options(ignore_status=404)
            for index in resources.indices:
                es.indices.delete(index=index)


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


def foundation_resources(cfg: Config) -> DemoResources:
    """The foundation stage starts from an empty topic, table, checkpoint and index."""
    tables = Tables(cfg)
    return DemoResources(
        topics=(cfg.kafka.topics.demo,),
        paths=(tables.path("demo_events"), tables.checkpoint("demo_events")),
        indices=(index_name(cfg, "demo-events"),),
    )


def stage_foundation(ctx: DemoContext) -> list[tuple[str, object]]:
    """Kafka -> Structured Streaming (availableNow) -> Delta -> Elasticsearch -> one search."""
    from vodlake.demo import events as demo_events

    cfg = ctx.cfg
    topic, index = cfg.kafka.topics.demo, index_name(cfg, "demo-events")
    ctx.reset(foundation_resources(cfg))
    kafka_io.ensure_topic(cfg, topic)
    n = cfg.demo.events
    ctx.log(f"producing {n:,} events to Kafka topic '{topic}'")
    produced = kafka_io.produce(
        cfg, topic, demo_records(n), key="video_id", progress=lambda k: ctx.log(f"  sent {k:,}")
    )
    in_topic = sum(kafka_io.end_offsets(cfg, topic).values())
    ctx.log("streaming Kafka -> Delta -> Elasticsearch (availableNow)")
    demo_events.start(ctx.spark, cfg, topic=topic, es_index=index, once=True).awaitTermination()
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


Rows = list[tuple[str, object]]


def _nothing(cfg: Config) -> DemoResources:
    return DemoResources()


@dataclass(frozen=True)
class Stage:
    """A demo stage: `run` does the work; `resources` names what it resets (via ctx.reset)."""

    title: str
    run: Callable[[DemoContext], Rows]
    resources: Callable[[Config], DemoResources] = _nothing


def _lazy(module: str, stage: str) -> Stage:
    """A stage from vodlake/demo/<module>.py (`stage` and optional `resources`), imported only
    when it runs: a stage's imports (ffmpeg helpers, Kafka clients) are not every stage's."""

    def load() -> object:
        return importlib.import_module(f"vodlake.demo.{module}")

    def run(ctx: DemoContext) -> Rows:
        return load().stage(ctx)  # type: ignore[attr-defined]

    def resources(cfg: Config) -> DemoResources:
        return getattr(load(), "resources", _nothing)(cfg)

    return Stage(stage, run, resources)


# The order follows the data: uploads feed the catalog that search indexes and playback uses.
STAGES: list[Stage] = [
    Stage("foundation: Kafka -> Delta -> Elasticsearch", stage_foundation, foundation_resources),
    _lazy("transcode", "upload -> chunked transcode -> HLS/DASH -> catalog"),
    _lazy("search", "search: catalog -> Elasticsearch, typo-tolerant search"),
    _lazy("playback", "playback telemetry: Kafka -> bronze + silver"),
    _lazy("analytics", "nightly analytics: popularity -> placement -> evaluation"),
    _lazy("delivery", "delivery: players -> edges -> nightly -> fill -> players (closed loop)"),
]


def run_demo(
    cfg: Config,
    *,
    master: str | None = None,
    only: Iterable[int] | None = None,
    start_services: bool = True,
    keep_services: bool = False,
) -> int:
    """Run the chosen stages (all by default) in the demo namespace of `cfg`; print a summary."""
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    demo = demo_config(cfg)
    log(f"demo namespace: topics {PREFIX}.*, data under {demo.paths.home}")
    log("checking the local services")
    started = services.require(demo, services.SERVICE_NAMES, start=start_services)
    if started:
        log(f"started {', '.join(started)}")
    chosen = [s for i, s in enumerate(STAGES, 1) if not only or i in set(only)]
    summary: list[tuple[str, object]] = []
    try:
        spark = get_spark(demo, app_name="vodlake-demo", master=master)
        ctx = DemoContext(cfg=demo, production=cfg, spark=spark, log=log, summary=summary)
        for stage in chosen:
            log(f"== {stage.title}")
            t_stage = time.monotonic()
            rows = stage.run(ctx)
            summary.append((f"-- {stage.title}", f"{time.monotonic() - t_stage:.1f}s"))
            summary.extend(rows)
        spark.stop()
    finally:
        if started and not keep_services:
            log(f"stopping {', '.join(started)}")
            services.down(demo, started)
    width = max([len(label) for label, _ in summary] + [len("elapsed")])
    print("\nvodlake demo summary")
    for label, value in summary:
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        print(f"  {label:<{width}}  {shown}")
    print(f"  {'elapsed':<{width}}  {time.monotonic() - t0:.1f}s")
    return 0
