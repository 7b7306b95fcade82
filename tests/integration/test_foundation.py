"""Each hop of the main job against the real broker, Delta and Elasticsearch node."""

from __future__ import annotations

import pytest

from vodlake.demo.stages import demo_records
from vodlake.lake import kafka_io
from vodlake.search.index import client as es_client

pytestmark = pytest.mark.integration

N = 600


@pytest.fixture(scope="module")
def hops(live_services, spark, tmp_path_factory):
    """Run the foundation flow once on its own topic, table, checkpoint and index."""
    import uuid

    from vodlake.config import load_config
    from vodlake.demo import events as demo_events

    home = tmp_path_factory.mktemp("foundation")
    cfg = load_config("test", overrides={"paths": {"home": str(home)}})
    name = uuid.uuid4().hex[:8]
    topic, index = f"demo-{name}", f"vodlake-test-demo-{name}"
    kafka_io.ensure_topic(cfg, topic, partitions=2)
    produced = kafka_io.produce(cfg, topic, demo_records(N), key="video_id")
    table = f"{cfg.paths.lake}/demo_events"
    checkpoint = f"{cfg.paths.checkpoints}/demo_events"
    query = demo_events.start(
        spark, cfg, topic=topic, table_path=table, checkpoint=checkpoint, es_index=index, once=True
    )
    query.awaitTermination()  # raises the query's exception if it failed
    yield {
        "cfg": cfg,
        "topic": topic,
        "index": index,
        "table": table,
        "produced": produced,
        "checkpoint": checkpoint,
    }
    es_client(cfg).options(ignore_status=404).indices.delete(index=index)


def test_every_event_reaches_kafka(hops) -> None:
    assert hops["produced"] == N
    assert sum(kafka_io.end_offsets(hops["cfg"], hops["topic"]).values()) == N


def test_kafka_to_delta_keeps_every_event_once(hops, spark) -> None:
    df = spark.read.format("delta").load(hops["table"])
    assert df.count() == N
    assert df.select("event_id").distinct().count() == N
    # per-video order survives: the key routes a video's events to one partition
    from pyspark.sql import functions as F

    per_video = df.groupBy("video_id").agg(F.countDistinct("kafka_partition").alias("n"))
    assert per_video.where("n != 1").count() == 0
    assert per_video.count() == 100


def test_delta_to_elasticsearch(hops) -> None:
    es = es_client(hops["cfg"])
    es.indices.refresh(index=hops["index"])
    assert es.count(index=hops["index"])["count"] == N


def test_search_finds_titles(hops) -> None:
    es = es_client(hops["cfg"])
    res = es.search(index=hops["index"], query={"match": {"title": "ocean"}}, size=0)
    expected = sum(1 for r in demo_records(N) if str(r["title"]).startswith("Ocean"))
    assert res["hits"]["total"]["value"] == expected > 0


def test_rerun_on_same_checkpoint_adds_nothing(hops, spark) -> None:
    """Exactly once: a second availableNow run over the same checkpoint writes no rows."""
    from vodlake.demo import events as demo_events

    query = demo_events.start(
        spark,
        hops["cfg"],
        topic=hops["topic"],
        table_path=hops["table"],
        checkpoint=hops["checkpoint"],
        es_index=hops["index"],
        once=True,
    )
    query.awaitTermination()
    assert spark.read.format("delta").load(hops["table"]).count() == N


def test_demo_without_elasticsearch_is_one_clear_line(tmp_path, capsys) -> None:
    """Services not started, Elasticsearch not answering: one line naming it and how to start it."""
    from vodlake.cli import main

    code = main(
        [
            "demo",
            "--no-start-services",
            "--set",
            "elasticsearch.port=9299",
            "--set",
            f"paths.home={tmp_path}",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[0] == "error: Elasticsearch is not reachable at http://127.0.0.1:9299"
    assert "vodlake services up" in err[1]
