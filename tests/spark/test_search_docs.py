"""Catalog/CDF rows -> search documents and actions; query bodies; index names; the CLI shape."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from tests.search_fixtures import video_row, videos_frame
from vodlake.config import load_config
from vodlake.search import index as search
from vodlake.search.sync import _iso, _micros
from vodlake.search.writes import es_hadoop_failure
from vodlake.transforms import search_docs
from vodlake.transforms.search_docs import (
    DOCUMENT_COLUMNS,
    latest_changes,
    popularity_per_video,
    snapshot_as_changes,
    split_actions,
    sync_actions,
    to_documents,
)


def rows(df) -> list[tuple]:
    """Sorted plain tuples (pyspark.testing imports pandas-on-Spark, broken on pandas 3)."""
    return sorted(tuple(r) for r in df.collect())


def changes(spark, entries):
    """[(row dict, change_type, commit_version)] -> a DataFrame shaped like the Change Data Feed."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from vodlake import schemas

    names = [f.name for f in schemas.VIDEOS.fields]
    schema = StructType(
        [
            *schemas.VIDEOS.fields,
            StructField("_change_type", StringType(), False),
            StructField("_commit_version", LongType(), False),
        ]
    )
    rows = [(*(row.get(n) for n in names), ct, v) for row, ct, v in entries]
    return spark.createDataFrame(rows, schema)


# --- CDF -> actions -------------------------------------------------------------------------
def test_latest_change_per_video_wins_and_preimages_are_ignored(spark) -> None:
    df = changes(
        spark,
        [
            (video_row("a", "Old Title", seq=1), "insert", 1),
            (video_row("a", "Old Title", seq=1), "update_preimage", 2),
            (video_row("a", "New Title", seq=2), "update_postimage", 2),
            (video_row("b", "Bee", seq=1), "insert", 2),
        ],
    )
    latest = latest_changes(df).select("video_id", "title", "_commit_version")
    assert rows(latest) == [("a", "New Title", 2), ("b", "Bee", 2)]


def test_insert_beats_delete_in_the_same_commit(spark) -> None:
    """An overwrite commit deletes and re-inserts a row: the row exists after the commit."""
    df = changes(
        spark,
        [
            (video_row("a", "Kept", seq=1), "delete", 3),
            (video_row("a", "Kept", seq=1), "insert", 3),
            (video_row("b", "Gone", seq=1), "insert", 2),
            (video_row("b", "Gone", seq=1), "delete", 3),
        ],
    )
    actions = {r["video_id"]: r["action"] for r in sync_actions(df).collect()}
    assert actions == {"a": "upsert", "b": "delete"}


def test_ready_is_upserted_and_everything_else_deleted(spark) -> None:
    df = changes(
        spark,
        [
            (video_row("ready", "R"), "insert", 1),
            (video_row("failed", "F", status="failed"), "insert", 1),
            (video_row("was-ready", "W", seq=1), "insert", 1),
            (video_row("was-ready", "W", seq=2, status="transcoding"), "update_postimage", 2),
            (video_row("removed", "X"), "insert", 1),
            (video_row("removed", "X"), "delete", 2),
            (video_row("flagged", "D", status="deleted"), "insert", 2),
        ],
    )
    upserts, deletes = split_actions(sync_actions(df))
    assert [r["video_id"] for r in upserts.collect()] == ["ready"]
    assert sorted(r["video_id"] for r in deletes.collect()) == [
        "failed",
        "flagged",
        "removed",
        "was-ready",
    ]
    assert "action" not in upserts.columns and "_change_type" not in upserts.columns


def test_snapshot_is_a_set_of_inserts_at_one_version(spark) -> None:
    snap = snapshot_as_changes(videos_frame(spark, [video_row("a", "A")]), 7)
    row = snap.select("_change_type", "_commit_version").first()
    assert (row["_change_type"], row["_commit_version"]) == ("insert", 7)


def test_missing_cdf_columns_is_a_clear_error(spark) -> None:
    with pytest.raises(ValueError, match="_change_type, _commit_version"):
        latest_changes(videos_frame(spark, [video_row("a", "A")]))


# --- documents -------------------------------------------------------------------------------
def test_documents_have_exactly_the_mapped_fields(spark) -> None:
    docs = to_documents(videos_frame(spark, [video_row("a", "A")]))
    assert tuple(docs.columns) == DOCUMENT_COLUMNS == search.VIDEO_FIELDS


def test_updated_at_keeps_microseconds_and_the_offset(spark) -> None:
    stamp = datetime(2026, 11, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    docs = to_documents(videos_frame(spark, [video_row("a", "A", updated_at=stamp)]))
    text = docs.first()["updated_at"]
    assert text == "2026-11-02T03:04:05.678901Z"
    assert _micros(text) == int(stamp.timestamp()) * 1_000_000 + 678901
    assert _iso(_micros(text)) == text


def test_suggest_inputs_are_the_title_and_its_word_suffixes(spark) -> None:
    rows = [
        video_row("a", "  City  Lights  "),
        video_row("b", None),
        video_row("c", ""),
        video_row("d", "one two three four five six seven eight nine ten"),
    ]
    docs = {r["video_id"]: r["suggest"] for r in to_documents(videos_frame(spark, rows)).collect()}
    assert docs["a"]["input"] == ["City  Lights", "City Lights", "Lights"]
    assert docs["a"]["weight"] == 0
    assert docs["b"] is None and docs["c"] is None
    assert len(docs["d"]["input"]) == 1 + search_docs.MAX_SUGGEST_WORDS
    assert docs["d"]["input"][-1] == "eight"


def test_popularity_joins_per_video_and_defaults_to_zero(spark) -> None:
    videos = videos_frame(spark, [video_row("a", "A"), video_row("b", "B")])
    popularity = spark.createDataFrame([("a", 99.0)], "video_id string, popularity double")
    docs = {r["video_id"]: r for r in to_documents(videos, popularity).collect()}
    assert docs["a"]["popularity"] == 99.0
    assert docs["b"]["popularity"] == 0.0
    assert docs["a"]["suggest"]["weight"] == 461  # round(ln(100) * 100)
    assert docs["b"]["suggest"]["weight"] == 0


def test_popularity_is_the_latest_day_summed_over_edges_and_files(spark) -> None:
    gold = spark.createDataFrame(
        [
            (date(2026, 11, 1), "a", 100.0),
            (date(2026, 11, 2), "a", 1.5),
            (date(2026, 11, 2), "a", 2.5),
            (date(2026, 11, 2), "b", 3.0),
            (date(2026, 11, 1), "c", 50.0),
        ],
        "date date, video_id string, popularity double",
    )
    assert rows(popularity_per_video(gold)) == [("a", 4.0), ("b", 3.0)]


def test_documents_need_catalog_columns(spark) -> None:
    with pytest.raises(ValueError, match="title"):
        to_documents(spark.createDataFrame([("a",)], "video_id string"))


# --- queries and names ----------------------------------------------------------------------
def test_search_body_is_fuzzy_filtered_and_boosted_without_scripts() -> None:
    body = search.search_body("ocaen", genre="Drama", language="en", limit=3)
    fs = body["query"]["function_score"]
    must = fs["query"]["bool"]["must"][0]["multi_match"]
    assert must["fuzziness"] == "AUTO" and must["query"] == "ocaen"
    assert "title^3" in must["fields"]
    filters = fs["query"]["bool"]["filter"]
    assert {"term": {"genres": {"value": "Drama", "case_insensitive": True}}} in filters
    assert {"term": {"language": {"value": "en", "case_insensitive": True}}} in filters
    assert fs["field_value_factor"]["field"] == "popularity"
    text = json.dumps(body)
    assert '"script"' not in text and "script_score" not in text  # no painless on this node
    assert body["size"] == 3


def test_empty_text_with_a_filter_matches_all() -> None:
    body = search.search_body("  ", genre="drama")
    assert body["query"]["function_score"]["query"]["bool"]["must"] == [{"match_all": {}}]
    with pytest.raises(ValueError):
        search.search_body("x", limit=0)


def test_suggest_body_uses_the_completion_field() -> None:
    body = search.suggest_body("oce", size=4)
    completion = body["suggest"]["titles"]["completion"]
    assert body["suggest"]["titles"]["prefix"] == "oce"
    assert completion["field"] == "suggest" and completion["size"] == 4
    assert search.VIDEO_MAPPING["properties"]["suggest"]["type"] == "completion"
    assert search.VIDEO_MAPPING["dynamic"] == "strict"


def test_index_names_are_versioned_behind_the_prefixed_alias() -> None:
    cfg = load_config("test", overrides={"elasticsearch": {"index_prefix": "acme"}})
    assert search.alias_name(cfg) == "acme-videos"
    name = search.new_index_name(cfg, datetime(2026, 11, 26, 10, 1, 2, 3, tzinfo=timezone.utc))
    assert name == "acme-videos-v20261126100102000003"
    assert search.is_versioned_index(cfg, name)
    assert not search.is_versioned_index(cfg, "acme-videos")
    assert not search.is_versioned_index(cfg, "acme-videos-vx")


def test_video_write_options_key_by_id_and_never_autocreate() -> None:
    cfg = load_config("test")
    opts = search.video_write_options(cfg)
    assert opts["es.mapping.id"] == "video_id"
    assert opts["es.write.operation"] == "upsert"
    assert opts["es.index.auto.create"] == "false"
    assert opts["es.spark.dataframe.write.null"] == "true"
    assert search.video_write_options(cfg, "delete")["es.write.operation"] == "delete"
    with pytest.raises(ValueError):
        search.video_write_options(cfg, "create")


def test_es_hadoop_failures_are_told_apart() -> None:
    down = Exception(
        "An error occurred while calling o1.save.\n: org.elasticsearch.hadoop.rest."
        "EsHadoopNoNodesLeftException: Connection error (check network and/or proxy settings)"
    )
    rejected = Exception(
        "org.elasticsearch.hadoop.EsHadoopException: Could not write all entries\n"
        "\torg.elasticsearch.hadoop.rest.EsHadoopRemoteException: strict_dynamic_mapping_"
        "exception: mapping set to strict"
    )
    assert es_hadoop_failure(down) == ("unreachable", "")
    kind, detail = es_hadoop_failure(rejected)
    assert kind == "rejected" and detail.startswith("strict_dynamic_mapping_exception")
    assert es_hadoop_failure(Exception("Delta: concurrent append")) is None


def test_misspell_makes_one_transposition_in_the_longest_word() -> None:
    from vodlake.demo.search import misspell

    assert misspell("Ocean Deep") == "Oecan Deep"
    assert misspell("Night Train 2") == "Ngiht Train 2"  # first of the longest words
    assert misspell("Up") == "Upp" and misspell("A") == "A" and misspell("") == ""


# --- the command's shape --------------------------------------------------------------------
def test_search_command_rejects_bad_usage(capsys) -> None:
    from vodlake.cli import main

    assert main(["search", "check", "--genre", "drama"]) == 2
    assert "takes no query or filters" in capsys.readouterr().err
    assert main(["search", "ocean", "--limit", "0"]) == 2
    assert "--limit must be between" in capsys.readouterr().err
    assert main(["search"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: nothing to search for" and err[1].startswith("hint:")


def test_hits_table_is_aligned() -> None:
    from vodlake.commands.search import format_hits

    table = format_hits(
        [
            {"score": 12.5, "video_id": "v1", "title": "Ocean Deep", "genres": ["nature"],
             "language": "en", "duration_s": 5.0, "popularity": 3.0},
            {"score": 1.0, "video_id": "v22", "title": "x" * 60, "genres": None,
             "language": None, "duration_s": None, "popularity": None},
        ]
    )  # fmt: skip
    lines = table.splitlines()
    assert lines[0].split() == [
        "#",
        "score",
        "video_id",
        "title",
        "genres",
        "lang",
        "duration",
        "popularity",
    ]
    assert "Ocean Deep" in lines[1] and "12.50" in lines[1] and "5.0s" in lines[1]
    assert "…" in lines[2] and len(lines[1]) <= len(lines[0]) + 40
