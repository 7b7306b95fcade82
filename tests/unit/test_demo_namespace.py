"""The demo's namespace: every name a demo stage resets is its own, and production names are
refused before anything is deleted (tests/integration/test_demo_namespace.py does it for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodlake.demo import stages
from vodlake.demo.namespace import (
    DemoResources,
    check_owned,
    demo_config,
    owned_index,
    owned_path,
    owned_topic,
)
from vodlake.demo.stages import STAGES, DemoContext
from vodlake.errors import VodlakeError
from vodlake.lake.tables import TABLES, Tables
from vodlake.search.index import alias_name, index_name


@pytest.fixture
def production(make_cfg, tmp_path: Path):
    """A config with production-looking names: its own topics, lake and index prefix."""
    return make_cfg(
        kafka={"topics": {"uploads": "uploads", "playback": "playback", "demo": "demo-events"}},
        elasticsearch={"index_prefix": "vodlake"},
    )


def production_paths(cfg) -> list[str]:
    tables = Tables(cfg)
    fixed = [p for k, p in cfg.paths.model_dump().items() if k != "home"]
    queries = ("playback_ingest", "uploads", "demo_events")
    return [*fixed, *(tables.path(n) for n in TABLES), *(tables.checkpoint(q) for q in queries)]


def every_stage_resources(demo) -> list[DemoResources]:
    return [stage.resources(demo) for stage in STAGES]


def test_the_demo_config_moves_every_name(production) -> None:
    demo = demo_config(production)
    prod_topics = set(production.kafka.topics.model_dump().values())
    assert prod_topics.isdisjoint(demo.kafka.topics.model_dump().values())
    for key, value in demo.paths.model_dump().items():
        assert value != getattr(production.paths, key)
    assert not alias_name(demo).startswith(production.elasticsearch.index_prefix + "-")


def test_every_stage_resets_only_its_own_names(production) -> None:
    demo = demo_config(production)
    found = every_stage_resources(demo)
    # the stages that start from empty name what they reset: something to check
    assert sum(len(r.topics) + len(r.paths) + len(r.indices) for r in found) >= 8
    prod_topics = set(production.kafka.topics.model_dump().values())
    prod_paths = production_paths(production)
    for resources in found:
        assert check_owned(demo, production, resources) == resources
        assert prod_topics.isdisjoint(resources.topics)
        for uri in resources.paths:
            assert all(p != uri and not p.startswith(uri.rstrip("/") + "/") for p in prod_paths)
        for index in resources.indices:
            assert not index.startswith(production.elasticsearch.index_prefix + "-")


def test_every_production_name_is_refused(production) -> None:
    demo = demo_config(production)
    for topic in production.kafka.topics.model_dump().values():
        with pytest.raises(VodlakeError, match="refuses to delete topic"):
            owned_topic(demo, production, topic)
    for uri in [*production_paths(production), production.paths.home]:
        with pytest.raises(VodlakeError, match="refuses to delete"):
            owned_path(demo, production, uri)
    for index in (
        alias_name(production),
        index_name(production, "demo-events"),
        "vodlake-demo-events",  # production's prefix, even with "demo" in it
        "vodlake",
    ):
        with pytest.raises(VodlakeError, match="refuses to delete index"):
            owned_index(demo, production, index)


def test_a_path_above_production_data_is_refused(production) -> None:
    demo = demo_config(production)
    # the demo home itself would take production data with it if production lived inside it
    moved = production.model_copy(
        update={"paths": production.paths.model_copy(update={"lake": f"{demo.paths.home}/lake"})}
    )
    with pytest.raises(VodlakeError, match="refuses to delete"):
        owned_path(demo, moved, Tables(demo).path("bronze_playback"))


def test_a_production_topic_named_like_a_demo_topic_is_refused(make_cfg) -> None:
    production = make_cfg(kafka={"topics": {"playback": "playback", "uploads": "demo.playback"}})
    demo = demo_config(production)
    playback = next(s for s in STAGES if s.title.startswith("playback"))
    with pytest.raises(VodlakeError, match=r"topic 'demo\.playback'"):
        check_owned(demo, production, playback.resources(demo))


def test_reset_refuses_a_production_name_before_deleting_anything(
    production, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_config(production)
    deleted: list[str] = []
    monkeypatch.setattr(stages.kafka_io, "delete_topic", lambda cfg, t: deleted.append(t))
    monkeypatch.setattr(stages.fs, "delete", lambda spark, uri: deleted.append(uri))
    ctx = DemoContext(cfg=demo, production=production, spark=None, log=print)  # type: ignore[arg-type]
    own = stages.foundation_resources(demo)
    for bad in (
        DemoResources(topics=(*own.topics, production.kafka.topics.playback)),
        DemoResources(topics=own.topics, paths=(*own.paths, Tables(production).path("videos"))),
        DemoResources(paths=own.paths, indices=(alias_name(production),)),
    ):
        with pytest.raises(VodlakeError, match="refuses to delete"):
            ctx.reset(bad)
    assert deleted == []
    ctx.reset(DemoResources(topics=own.topics, paths=own.paths))
    assert deleted == [*own.topics, *own.paths]
