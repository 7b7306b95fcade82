"""Elasticsearch goes down in the middle of a sync: one clear error, the saved version stays,
and the next sync after it is back makes the index equal to the catalog.

The test runs its OWN Elasticsearch node (other ports, state under tmp) and stops only that
one; the shared node on 9200 is never touched.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.search_fixtures import delete_videos, merge_videos, video_row
from vodlake.cli import main as cli
from vodlake.config import load_config
from vodlake.errors import VodlakeError
from vodlake.lake.tables import Tables
from vodlake.search import index as search
from vodlake.search.sync import check_index, read_state, sync_search
from vodlake.services.common import port_open
from vodlake.services.elasticsearch import ElasticsearchService

pytestmark = pytest.mark.integration


def _free_http_port() -> int:
    """An HTTP port from 9210 up whose transport port (+100) is free too (never 9200)."""
    for port in range(9210, 9290):
        if not port_open("127.0.0.1", port) and not port_open("127.0.0.1", port + 100):
            return port
    raise RuntimeError("no free port pair in 9210-9289 for a second Elasticsearch node")


@pytest.fixture(scope="module")
def own_node(tmp_path_factory):
    """A second Elasticsearch node that this module may stop and start at will.

    Its state lives under /var/tmp, not pytest's tmp: the node runs as the service user, and
    every pytest session that starts resets /tmp/pytest-of-<user> to 0700, which would lock
    the node out of its own data on a restart.
    """
    home = tmp_path_factory.mktemp("search-failure")
    state = Path(tempfile.mkdtemp(prefix="vodlake-search-failure-", dir="/var/tmp"))
    port = _free_http_port()
    prefix = f"vodlake-test-fail-{uuid.uuid4().hex[:8]}"
    cfg = load_config(
        "test",
        overrides={
            "paths": {"home": str(home)},
            "elasticsearch": {"port": port, "index_prefix": prefix},
            "services": {"state_dir": str(state)},
        },
    )
    node = ElasticsearchService(cfg)
    assert node.port != 9200 and node.state.is_relative_to(state)
    args = [
        "--env",
        "test",
        "--set",
        f"paths.home={home}",
        "--set",
        f"elasticsearch.port={port}",
        "--set",
        f"elasticsearch.index_prefix={prefix}",
    ]
    try:
        node.up()
        yield cfg, node, args
    finally:
        node.down()
        shutil.rmtree(state, ignore_errors=True)


def _stop_at(node: ElasticsearchService, stage: str, seen: list[str]):
    """A progress callback that stops the node when the sync reaches `stage`."""

    def progress(name: str, info: dict) -> None:
        seen.append(name)
        if name == stage:
            assert node.down(), "the test's own node was not running"

    return progress


def _titles(cfg) -> dict[str, str]:
    from elasticsearch import helpers

    es = search.client(cfg)
    alias = search.alias_name(cfg)
    es.indices.refresh(index=alias)
    hits = helpers.scan(es, index=alias, query={"query": {"match_all": {}}}, _source=["title"])
    return {h["_id"]: h["_source"]["title"] for h in hits}


def test_elasticsearch_down_mid_sync_keeps_the_version_and_the_next_sync_repairs(
    spark, own_node, capfd
) -> None:
    cfg, node, args = own_node
    path = Tables(cfg).ensure(spark, "videos")
    merge_videos(
        spark,
        path,
        [
            video_row("a", "Ocean Deep"),
            video_row("b", "City Lights"),
            video_row("c", "Mountain Echo"),
            video_row("d", "Desert Wind"),
        ],
    )
    sync_search(spark, cfg)
    saved = read_state(spark, cfg).table_version
    assert check_index(spark, cfg).ok

    # new catalog versions: a retitle, a video failing, a video deleted, a new one
    merge_videos(
        spark,
        path,
        [
            video_row("a", "Ocean Deeper", seq=2),
            video_row("b", "City Lights", seq=2, status="failed"),
            video_row("e", "Forest Song"),
        ],
    )
    delete_videos(spark, path, ["c"])

    # 1. the node dies after the sync planned its work, just before es-hadoop writes
    seen: list[str] = []
    capfd.readouterr()
    with pytest.raises(VodlakeError) as err:
        sync_search(spark, cfg, progress=_stop_at(node, "upsert", seen))
    assert seen == ["plan", "upsert"]
    printed = capfd.readouterr().err  # the JVM's task failure logs stay quiet
    assert "\tat " not in printed and "EsHadoop" not in printed
    message = err.value.message
    assert "\n" not in message
    assert f"Elasticsearch at {cfg.elasticsearch.url} is unreachable" in message
    assert f"the saved version stays at {saved}" in message
    assert f"resumes from version {saved + 1}" in err.value.hint
    assert read_state(spark, cfg).table_version == saved

    # the job's entry point, while the node is down: exactly one error line and a hint
    capfd.readouterr()
    assert cli(["--env", "test", "job", "search_sync", *args[2:]]) == 2
    err_text = capfd.readouterr().err
    errors = [line for line in err_text.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: search sync stopped: Elasticsearch at {cfg.elasticsearch.url} is unreachable; "
        f"the saved version stays at {saved}"
    ]
    assert "Traceback" not in err_text and "\tat " not in err_text
    assert read_state(spark, cfg).table_version == saved

    # 2. back up; this time it dies after the upserts went through, before the deletes
    node.up()
    seen.clear()
    with pytest.raises(VodlakeError, match="is unreachable"):
        sync_search(spark, cfg, progress=_stop_at(node, "delete", seen))
    assert seen == ["plan", "upsert", "delete"]
    assert read_state(spark, cfg).table_version == saved
    node.up()
    partial = check_index(spark, cfg)
    assert partial.extra == ["b", "c"]  # upserted a and e, but never deleted b and c
    assert not partial.ok

    # 3. the next sync resumes from the saved version and the index equals the catalog
    result = sync_search(spark, cfg)
    assert (result.from_version, result.upserted, result.deleted) == (saved + 1, 2, 2)
    assert check_index(spark, cfg).ok
    assert _titles(cfg) == {"a": "Ocean Deeper", "d": "Desert Wind", "e": "Forest Song"}
    assert read_state(spark, cfg).table_version == result.to_version > saved
    capfd.readouterr()
    assert cli(["search", "check", *args[2:]]) == 0
    assert "no differences" in capfd.readouterr().out
