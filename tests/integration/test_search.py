"""Search against the real node: typos, completion, filters, popularity, sync, reindex, check.

Each module run has its own lake (tmp) and index prefix, so the alias, its versioned indices and
the sync_state row belong to this test only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import date

import pytest

from tests.search_fixtures import delete_videos, merge_videos, video_row
from vodlake.cli import main as cli
from vodlake.config import load_config
from vodlake.lake.tables import Tables
from vodlake.search import index as search
from vodlake.search import reindex as search_reindex
from vodlake.search.sync import check_index, read_state, sync_search

pytestmark = pytest.mark.integration

CATALOG = [
    video_row(
        "v-ocean",
        "Ocean Deep",
        genres=["nature"],
        description="Whales, coral reefs and the deep sea",
        tags=["sea", "whales"],
    ),
    video_row("v-city", "City Lights", genres=["drama"], language="fr"),
    video_row("v-mountain", "Mountain Echo", genres=["documentary"]),
    video_row("v-night-1", "Night Train", genres=["thriller"]),
    video_row("v-night-2", "Night Train", genres=["thriller"]),
    video_row("v-desert", "Desert Wind", status="transcoding"),
]


def _cfg(tmp_path_factory: pytest.TempPathFactory, label: str):
    home = tmp_path_factory.mktemp(f"search-{label}")
    prefix = f"vodlake-test-{label}-{uuid.uuid4().hex[:8]}"
    cfg = load_config(
        "test", overrides={"paths": {"home": str(home)}, "elasticsearch": {"index_prefix": prefix}}
    )
    return cfg, ["--set", f"paths.home={home}", "--set", f"elasticsearch.index_prefix={prefix}"]


def _drop_indices(cfg) -> None:
    es = search.client(cfg)
    found = es.options(ignore_status=404).indices.get(index=f"{cfg.elasticsearch.index_prefix}-*")
    for name in found.body if hasattr(found, "body") else found:
        es.options(ignore_status=404).indices.delete(index=name)


def _documents(cfg) -> dict[str, dict]:
    from elasticsearch import helpers

    es = search.client(cfg)
    es.indices.refresh(index=search.alias_name(cfg))
    return {
        h["_id"]: h["_source"]
        for h in helpers.scan(es, index=search.alias_name(cfg), query={"query": {"match_all": {}}})
    }


@pytest.fixture(scope="module")
def catalog(live_services, spark, tmp_path_factory):
    """Six videos (five ready), synced once with gold popularity that favours v-night-2."""
    cfg, cli_args = _cfg(tmp_path_factory, "search")
    path = Tables(cfg).ensure(spark, "videos")
    merge_videos(spark, path, CATALOG)
    gold = spark.createDataFrame(
        [
            (date(2026, 11, 20), "v-night-1", 900.0),  # an old day: ignored
            (date(2026, 11, 21), "v-night-1", 2.0),
            (date(2026, 11, 21), "v-night-2", 300.0),
            (date(2026, 11, 21), "v-night-2", 200.0),
        ],
        "date date, video_id string, popularity double",
    )
    result = sync_search(spark, cfg, gold_popularity=gold)
    yield {"cfg": cfg, "args": cli_args, "path": path, "sync": result, "gold": gold}
    _drop_indices(cfg)


def _ids(hits: list[dict]) -> list[str]:
    return [h["video_id"] for h in hits]


def test_first_sync_indexes_the_ready_catalog(catalog) -> None:
    result = catalog["sync"]
    assert result.mode == "snapshot"
    assert (result.upserted, result.deleted) == (5, 1)
    docs = _documents(catalog["cfg"])
    assert sorted(docs) == sorted(r["video_id"] for r in CATALOG if r["status"] == "ready")
    assert docs["v-ocean"]["updated_at"] == "2026-11-01T12:00:01.123456Z"
    assert docs["v-night-2"]["popularity"] == 500.0 and docs["v-night-1"]["popularity"] == 2.0


def test_a_misspelled_title_finds_the_right_video(catalog, capsys) -> None:
    cfg = catalog["cfg"]
    es = search.client(cfg)
    assert _ids(search.search_videos(es, cfg, "Ocaen Deap"))[0] == "v-ocean"
    assert _ids(search.search_videos(es, cfg, "mountian ecko"))[0] == "v-mountain"
    assert _ids(search.search_videos(es, cfg, "whale"))[0] == "v-ocean"  # tags and description
    assert search.search_videos(es, cfg, "desert wind") == []  # not ready, not indexed
    assert cli(["search", "Ocaen Deap", *catalog["args"]]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["#", "score", "video_id", "title"]
    assert "v-ocean" in table[1] and "Ocean Deep" in table[1]


def test_a_prefix_completes_a_title(catalog, capsys) -> None:
    cfg = catalog["cfg"]
    es = search.client(cfg)
    assert [o["title"] for o in search.suggest_titles(es, cfg, "oce")] == ["Ocean Deep"]
    assert [o["video_id"] for o in search.suggest_titles(es, cfg, "lig")] == ["v-city"]
    assert [o["video_id"] for o in search.suggest_titles(es, cfg, "mounti")] == ["v-mountain"]
    assert search.suggest_titles(es, cfg, "deser") == []
    # two videos share "Night Train": one suggestion, the popular one (weight from popularity)
    assert _ids(search.suggest_titles(es, cfg, "nig")) == ["v-night-2"]
    assert cli(["search", "suggest", "moun", *catalog["args"]]) == 0
    assert "Mountain Echo" in capsys.readouterr().out


def test_filters_narrow_the_results(catalog, capsys) -> None:
    cfg = catalog["cfg"]
    es = search.client(cfg)
    assert _ids(search.search_videos(es, cfg, "", genre="drama")) == ["v-city"]
    assert _ids(search.search_videos(es, cfg, "", genre="Drama")) == ["v-city"]
    assert _ids(search.search_videos(es, cfg, "city lihgts", language="fr")) == ["v-city"]
    assert search.search_videos(es, cfg, "city lights", language="en") == []
    assert sorted(_ids(search.search_videos(es, cfg, "", language="en"))) == [
        "v-mountain",
        "v-night-1",
        "v-night-2",
        "v-ocean",
    ]
    assert len(search.search_videos(es, cfg, "", language="en", limit=2)) == 2
    assert cli(["search", "night", "--genre", "drama", *catalog["args"]]) == 0
    assert "no videos match" in capsys.readouterr().out


def test_popularity_boosts_equal_matches(catalog, capsys) -> None:
    cfg = catalog["cfg"]
    hits = search.search_videos(search.client(cfg), cfg, "night train")
    assert _ids(hits) == ["v-night-2", "v-night-1"]
    assert hits[0]["score"] > hits[1]["score"]
    assert cli(["search", "nigth train", "--json", *catalog["args"]]) == 0
    assert _ids(json.loads(capsys.readouterr().out)) == ["v-night-2", "v-night-1"]


def test_incremental_sync_applies_the_feed_and_is_idempotent(
    live_services, spark, tmp_path_factory
):
    cfg, _ = _cfg(tmp_path_factory, "incr")
    path = Tables(cfg).ensure(spark, "videos")
    try:
        merge_videos(spark, path, CATALOG)
        first = sync_search(spark, cfg)
        saved = read_state(spark, cfg).table_version
        assert first.to_version == saved
        # two more versions: a retitle, a video failing, one becoming ready, a new one; then
        # one leaving the catalog
        merge_videos(
            spark,
            path,
            [
                video_row("v-ocean", "Ocean Deeper", seq=2, genres=["nature"]),
                video_row("v-city", "City Lights", seq=2, status="failed"),
                video_row("v-desert", "Desert Wind", seq=2),
                video_row("v-new", "Brand New", seq=1),
            ],
        )
        delete_videos(spark, path, ["v-mountain"])
        second = sync_search(spark, cfg)
        assert second.mode == "changes"
        assert (second.from_version, second.to_version) == (saved + 1, saved + 2)
        assert (second.upserted, second.deleted) == (3, 2)
        docs = _documents(cfg)
        assert sorted(docs) == ["v-desert", "v-new", "v-night-1", "v-night-2", "v-ocean"]
        assert docs["v-ocean"]["title"] == "Ocean Deeper"
        es = search.client(cfg)
        assert _ids(search.search_videos(es, cfg, "ocaen deeper"))[0] == "v-ocean"
        assert check_index(spark, cfg).ok
        # nothing new: nothing done, nothing moves
        third = sync_search(spark, cfg)
        assert third.mode == "up-to-date"
        assert read_state(spark, cfg).table_version == saved + 2
        assert _documents(cfg) == docs
        # replaying the same versions gives the same index
        replay = sync_search(spark, cfg, from_version=saved + 1)
        assert (replay.upserted, replay.deleted) == (3, 2)
        assert _documents(cfg) == docs
        assert read_state(spark, cfg).table_version == saved + 2
        # the catalog dropped and created again: its feed restarts, so the sync rebuilds
        import shutil

        shutil.rmtree(path.removeprefix("file:"))
        Tables(cfg).ensure(spark, "videos")
        merge_videos(spark, path, [video_row("v-only", "Only One")])
        rebuilt = sync_search(spark, cfg)
        assert rebuilt.mode == "reindex"
        assert sorted(_documents(cfg)) == ["v-only"]
        assert check_index(spark, cfg).ok
    finally:
        _drop_indices(cfg)


def test_reindex_swaps_the_alias_while_searches_keep_working(catalog, spark) -> None:
    cfg = catalog["cfg"]
    es = search.client(cfg)
    alias = search.alias_name(cfg)
    [old] = search.alias_indices(es, alias)
    seen: list[tuple[str, str]] = []  # (index answering, top hit)
    errors: list[BaseException] = []
    stop = threading.Event()

    def keep_searching() -> None:
        client = search.client(cfg)
        body = search.search_body("Ocaen Deap", limit=1)
        while not stop.is_set():
            try:
                hit = client.search(index=alias, **body)["hits"]["hits"][0]
                seen.append((hit["_index"], hit["_id"]))
            except BaseException as exc:  # any failed search fails the test
                errors.append(exc)
            time.sleep(0.02)  # leave the two cores to the reindex

    searcher = threading.Thread(target=keep_searching, daemon=True)
    searcher.start()
    try:
        rc = cli(["--env", "test", "job", "search_reindex", "--grace", "1", *catalog["args"]])
    finally:
        stop.set()
        searcher.join(timeout=60)
    assert rc == 0
    assert errors == []
    [new] = search.alias_indices(es, alias)
    assert new != old and search.is_versioned_index(cfg, new)
    assert not es.indices.exists(index=old)
    assert {top for _, top in seen} == {"v-ocean"}
    answering = [index for index, _ in seen]
    assert answering[0] == old and answering[-1] == new  # searched before and after the swap
    assert read_state(spark, cfg).index == new
    assert check_index(spark, cfg).ok
    # popularity came from the (absent) gold table this time: the catalog order still holds
    assert sorted(_documents(cfg)) == sorted(
        r["video_id"] for r in CATALOG if r["status"] == "ready"
    )


def test_search_check_reports_drift_and_none_after_a_sync(catalog, spark, capsys) -> None:
    cfg, args = catalog["cfg"], catalog["args"]
    es = search.client(cfg)
    alias = search.alias_name(cfg)
    assert cli(["search", "check", *args]) == 0
    out = capsys.readouterr().out
    assert "no differences" in out and "5 ready videos" in out
    # drift: a document lost, a stale one, and one that should not be there
    es.delete(index=alias, id="v-city")
    es.update(index=alias, id="v-ocean", doc={"updated_at": "2020-01-01T00:00:00.000001Z"})
    es.index(
        index=alias,
        id="v-ghost",
        document={"video_id": "v-ghost", "title": "Ghost", "status": "ready"},
    )
    es.indices.refresh(index=alias)
    assert cli(["search", "check", *args]) == 1
    out = capsys.readouterr().out
    assert "missing from the index (1):\n  v-city" in out
    assert "not ready in the catalog (1):\n  v-ghost" in out
    assert "v-ocean: catalog 2026-11-01T12:00:01.123456Z, index 2020-01-01T00:00:00.000001Z" in out
    assert "3 differences" in out
    # a new catalog version replayed by the sync repairs what it touches; reindex repairs all
    merge_videos(spark, catalog["path"], [video_row("v-city", "City Lights", seq=3, language="fr")])
    sync_search(spark, cfg)
    result = check_index(spark, cfg)
    assert result.missing == [] and result.extra == ["v-ghost"]
    search_reindex.reindex(spark, cfg, grace_s=0)
    assert cli(["search", "check", *args]) == 0
    assert "no differences" in capsys.readouterr().out
