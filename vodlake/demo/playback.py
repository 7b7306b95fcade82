"""Demo stage: simulate a short playback history, ingest it exactly once, reconcile.

Kafka `playback` -> bronze_playback -> silver_playback + quarantine_playback, with availableNow
triggers, then `bronze = silver + quarantine + duplicates removed`. A few deliberately bad
records and re-sent duplicates ride along so the quarantine and the dedupe have work to show.
The stage starts each run from empty, inside the demo namespace (never the production topic).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from kafka import KafkaProducer

from vodlake.config import Config
from vodlake.demo.namespace import DemoResources
from vodlake.lake import kafka_io
from vodlake.lake.tables import Tables
from vodlake.telemetry import generator as ps
from vodlake.telemetry import ingest as stream
from vodlake.telemetry.reconcile import reconcile_playback
from vodlake.telemetry.sim_catalog import load_catalog

DAYS = 1
SESSIONS_PER_DAY = 60
SEED = 7
RESENT = 25  # events produced twice, as a retrying client would


def bad_records(good: dict[str, Any], max_payload_bytes: int) -> list[tuple[str, bytes]]:
    """(session key, raw value) for one record of each bad-data class."""
    future = datetime.now(timezone.utc) + timedelta(days=1)

    def variant(**changes: Any) -> bytes:
        event = {**good, "event_id": "bad-" + "-".join(sorted(changes)), **changes}
        return json.dumps({k: v for k, v in event.items() if v is not _DROP}).encode()

    return [
        ("bad", b"{not json"),
        ("bad", variant(chunk_idx="seven")),
        ("bad", variant(video_id=_DROP)),
        ("bad", variant(pad="x" * max_payload_bytes)),
        ("bad", variant(event_type="pause")),
        ("bad", variant(event_time=ps.format_event_time(int(future.timestamp() * 1000)))),
        ("bad", variant(bytes=-1)),  # well-formed, rejected by the GX suite
    ]


_DROP: Any = object()


def resources(cfg: Config) -> DemoResources:
    """Each run starts from empty: the playback topic, bronze/silver/quarantine, checkpoint."""
    tables = Tables(cfg)
    names = ("bronze_playback", "silver_playback", "quarantine_playback")
    return DemoResources(
        topics=(cfg.kafka.topics.playback,),
        paths=(*(tables.path(n) for n in names), tables.checkpoint(stream.INGEST_QUERY)),
    )


def stage(ctx: Any) -> list[tuple[str, object]]:
    """Simulate, produce, ingest (--once), and report bronze/silver/quarantine counts."""
    cfg = ctx.cfg
    topic = cfg.kafka.topics.playback
    ctx.reset(resources(cfg))
    kafka_io.ensure_topic(cfg, topic)
    catalog, where = load_catalog(cfg, seed=SEED, spark_factory=lambda: ctx.spark, log=ctx.log)
    # the history ends before today, so no simulated event is in the future
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DAYS + 1)
    events = list(ps.generate(catalog, cfg.topology, DAYS, SESSIONS_PER_DAY, SEED, start))
    ctx.log(f"simulated {len(events):,} events of {SESSIONS_PER_DAY} sessions ({where})")
    produced = kafka_io.produce(cfg, topic, events + events[:RESENT], key="session_id")
    bad = bad_records(events[0], cfg.playback.max_payload_bytes)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all")
    try:
        for key, value in bad:
            producer.send(topic, key=key.encode(), value=value).get(timeout=30)
    finally:
        producer.close()
    ctx.log(f"produced {produced:,} events ({RESENT} re-sent) and {len(bad)} bad records")
    ctx.log("streaming Kafka -> bronze + silver + quarantine (availableNow)")
    stream.run(ctx.spark, cfg, once=True, topic=topic)
    counts = stream.table_counts(ctx.spark, cfg)
    check = reconcile_playback(ctx.spark, cfg)
    for line in check.lines():
        ctx.log(line)
    return [
        ("playback events produced to Kafka", produced + len(bad)),
        ("rows in bronze_playback", counts["bronze_playback"]),
        ("rows in silver_playback", counts["silver_playback"]),
        ("rows in quarantine_playback", counts["quarantine_playback"]),
        ("duplicates removed", check.duplicates),
        ("reconciliation", "holds" if check.holds else f"FAILS ({check.unaccounted:+,})"),
    ]
