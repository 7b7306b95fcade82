"""The demo's reset against real Kafka, Delta and Elasticsearch: with production names
configured, resetting every demo stage deletes the demo's own topics, tables, checkpoints and
indices and leaves production's, data included; a production name handed to reset is refused."""

from __future__ import annotations

import os

import pytest

from vodlake.demo.namespace import DemoResources, demo_config
from vodlake.demo.stages import STAGES, DemoContext
from vodlake.errors import VodlakeError
from vodlake.lake import fs, kafka_io
from vodlake.lake.tables import Tables
from vodlake.search.index import client, index_name
from vodlake.telemetry.ingest import INGEST_QUERY

ROWS = 3


def _fill(spark, cfg, topics, tables, checkpoints, indices) -> None:
    """ROWS records per topic, ROWS rows per Delta table, a file per checkpoint, a doc per index."""
    for topic in topics:
        kafka_io.ensure_topic(cfg, topic, partitions=1)
        records = [{"n": i} for i in range(ROWS)]
        assert kafka_io.produce(cfg, topic, records, key="n") == ROWS
    for path in tables:
        spark.range(ROWS).write.format("delta").mode("overwrite").save(path)
    for path in checkpoints:
        fs.write_bytes(spark, f"{path}/metadata", b'{"id": "production"}')
    es = client(cfg)
    for index in indices:
        es.options(ignore_status=400).indices.create(index=index)
        es.index(index=index, id="1", document={"title": "production"}, refresh=True)


def _topic_rows(cfg, topic: str) -> int | None:
    offsets = kafka_io.end_offsets(cfg, topic)
    return sum(offsets.values()) if offsets else None


def _table_rows(spark, path: str) -> int | None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path).count()


def _exists(uri: str) -> bool:
    """The test's paths are local (its home is a tmp folder)."""
    return os.path.exists(uri.removeprefix("file:"))


def _docs(cfg, index: str) -> int | None:
    es = client(cfg)
    if not es.indices.exists(index=index):
        return None
    return es.count(index=index)["count"]


@pytest.mark.integration
def test_demo_reset_leaves_production_data_alone(live_services, spark, make_cfg, unique) -> None:
    production = make_cfg(
        kafka={
            "topics": {
                "uploads": f"uploads-{unique}",
                "playback": f"playback-{unique}",
                "demo": f"demo-events-{unique}",
            }
        },
        elasticsearch={"index_prefix": f"prod{unique}"},
    )
    demo = demo_config(production)
    names = ("demo_events", "bronze_playback", "silver_playback", "quarantine_playback")
    queries = ("demo_events", INGEST_QUERY)

    def resources(cfg):
        t = Tables(cfg)
        topics = [cfg.kafka.topics.demo, cfg.kafka.topics.playback]
        return (
            topics,
            [t.path(n) for n in names],
            [t.checkpoint(q) for q in queries],
            [index_name(cfg, "demo-events")],
        )

    prod_topics, prod_tables, prod_checkpoints, prod_indices = resources(production)
    prod_topics.append(production.kafka.topics.uploads)
    demo_topics, demo_tables, demo_checkpoints, demo_indices = resources(demo)
    every_topic = [*prod_topics, *demo_topics]
    every_index = [*prod_indices, *demo_indices]
    try:
        _fill(spark, production, prod_topics, prod_tables, prod_checkpoints, prod_indices)
        _fill(spark, demo, demo_topics, demo_tables, demo_checkpoints, demo_indices)
        ctx = DemoContext(cfg=demo, production=production, spark=spark, log=print)
        for stage in STAGES:
            ctx.reset(stage.resources(demo))

        # the demo's own names are gone: the reset did delete something
        assert [_topic_rows(demo, t) for t in demo_topics] == [None, None]
        assert [_table_rows(spark, p) for p in demo_tables] == [None] * len(names)
        assert not any(_exists(p) for p in demo_checkpoints)
        assert _docs(demo, demo_indices[0]) is None
        # production's are all there, with their data
        assert [_topic_rows(production, t) for t in prod_topics] == [ROWS] * 3
        assert [_table_rows(spark, p) for p in prod_tables] == [ROWS] * len(names)
        assert all(_exists(f"{p}/metadata") for p in prod_checkpoints)
        assert _docs(production, prod_indices[0]) == 1

        # handing reset a production name is refused, and nothing is deleted
        for bad in (
            DemoResources(topics=(production.kafka.topics.playback,)),
            DemoResources(paths=(prod_tables[1],)),
            DemoResources(paths=(prod_checkpoints[1],)),
            DemoResources(paths=(production.paths.lake,)),
            DemoResources(indices=(prod_indices[0],)),
        ):
            with pytest.raises(VodlakeError, match="refuses to delete"):
                ctx.reset(bad)
        assert [_topic_rows(production, t) for t in prod_topics] == [ROWS] * 3
        assert [_table_rows(spark, p) for p in prod_tables] == [ROWS] * len(names)
        assert _docs(production, prod_indices[0]) == 1
    finally:
        for topic in every_topic:
            kafka_io.delete_topic(production, topic)
        es = client(production).options(ignore_status=404)
        for index in every_index:
            es.indices.delete(index=index)
