"""Catalog rows and Change Data Feed rows -> Elasticsearch video documents (pure, no I/O).

The sync reads a range of `videos` versions from the Change Data Feed; a video may change many
times in that range, and only its last state matters to the index. That last state decides the
action: a `ready` video is upserted, anything else (deleted, failed, back to transcoding) is
deleted from the index, so the index holds exactly the ready catalog.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

CHANGE_TYPE = "_change_type"
COMMIT_VERSION = "_commit_version"
UPSERT, DELETE = "upsert", "delete"
# Completion inputs per title: the title, then its suffixes from each word on, so "lig"
# completes "City Lights"; long titles stop after this many words.
MAX_SUGGEST_WORDS = 8
# Document columns, in the order of vodlake.search.VIDEO_MAPPING.
DOCUMENT_COLUMNS = (
    "video_id",
    "title",
    "description",
    "tags",
    "genres",
    "language",
    "duration_s",
    "renditions",
    "status",
    "popularity",
    "updated_at",
    "suggest",
)
_TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"


def _require(df: DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {', '.join(missing)} (has {', '.join(df.columns)})")


def snapshot_as_changes(videos: DataFrame, version: int) -> DataFrame:
    """A catalog snapshot in Change Data Feed shape: every row an insert at `version`.

    The first sync (no saved version) starts from a snapshot instead of replaying the whole
    feed, which may have been vacuumed away.
    """
    return videos.withColumn(CHANGE_TYPE, F.lit("insert")).withColumn(
        COMMIT_VERSION, F.lit(version).cast("long")
    )


def latest_changes(changes: DataFrame) -> DataFrame:
    """The last change of each video in the range (update pre-images dropped).

    Within one commit an overwrite yields a delete and an insert for the same video: the insert
    is the state after the commit, so a delete only wins when nothing else is in that commit.
    """
    _require(changes, ("video_id", "seq", "updated_at", CHANGE_TYPE, COMMIT_VERSION), "changes")
    order = Window.partitionBy("video_id").orderBy(
        F.col(COMMIT_VERSION).desc(),
        (F.col(CHANGE_TYPE) == "delete").asc(),
        F.col("seq").desc(),
        F.col("updated_at").desc(),
    )
    return (
        changes.where(F.col(CHANGE_TYPE) != "update_preimage")
        .withColumn("_rank", F.row_number().over(order))
        .where("_rank = 1")
        .drop("_rank")
    )


def sync_actions(changes: DataFrame) -> DataFrame:
    """Latest change per video plus `action`: upsert when it is ready, else delete."""
    latest = latest_changes(changes)
    is_ready = (F.col(CHANGE_TYPE) != "delete") & (F.col("status") == "ready")
    return latest.withColumn("action", F.when(is_ready, F.lit(UPSERT)).otherwise(F.lit(DELETE)))


def popularity_per_video(gold_popularity: DataFrame) -> DataFrame:
    """(video_id, popularity): the latest day's popularity summed over edges and files.

    Gold has one row per (date, edge, file); search should boost what is watched now, so only
    the newest date counts (summing all days would favour old titles forever).
    """
    _require(gold_popularity, ("date", "video_id", "popularity"), "gold_popularity")
    latest = gold_popularity.agg(F.max("date").alias("_latest"))
    return (
        gold_popularity.join(F.broadcast(latest), F.col("date") == F.col("_latest"))
        .groupBy("video_id")
        .agg(F.sum("popularity").alias("popularity"))
    )


def _suggest(title: Column, popularity: Column) -> Column:
    """Completion field: {input: [title, word suffixes...], weight: int from popularity}."""
    words = F.slice(F.split(F.trim(title), r"\s+"), 1, MAX_SUGGEST_WORDS)
    suffixes = F.transform(
        words, lambda _w, i: F.array_join(F.slice(words, i + 1, F.size(words) - i), " ")
    )
    inputs = F.array_distinct(
        F.filter(F.concat(F.array(F.trim(title)), suffixes), lambda s: F.length(s) > 0)
    )
    weight = F.round(F.log1p(F.greatest(popularity, F.lit(0.0))) * 100).cast("int")
    return F.when(title.isNull() | (F.size(inputs) == 0), F.lit(None)).otherwise(
        F.struct(inputs.alias("input"), weight.alias("weight"))
    )


def to_documents(videos: DataFrame, popularity: DataFrame | None = None) -> DataFrame:
    """Catalog rows -> documents with exactly the mapped fields (DOCUMENT_COLUMNS).

    `updated_at` is written as an ISO-8601 string with microseconds and the offset, so the index
    keeps the catalog's exact instant (es-hadoop would send epoch milliseconds and lose the
    microseconds that `vodlake search check` compares). Videos without a popularity row get 0.
    """
    _require(
        videos,
        ("video_id", "title", "description", "tags", "genres", "language", "duration_s"),
        "videos",
    )
    _require(videos, ("renditions", "status", "updated_at"), "videos")
    rows = videos
    if popularity is not None:
        _require(popularity, ("video_id", "popularity"), "popularity")
        rows = rows.drop("popularity").join(
            popularity.select("video_id", F.col("popularity").cast("double")), "video_id", "left"
        )
    elif "popularity" in rows.columns:
        rows = rows.drop("popularity")
    if "popularity" not in rows.columns:
        rows = rows.withColumn("popularity", F.lit(None).cast("double"))
    rows = rows.withColumn("popularity", F.coalesce(F.col("popularity"), F.lit(0.0)))
    return rows.select(
        "video_id",
        "title",
        "description",
        "tags",
        "genres",
        "language",
        F.col("duration_s").cast("double").alias("duration_s"),
        "renditions",
        "status",
        "popularity",
        F.date_format("updated_at", _TIMESTAMP_FORMAT).alias("updated_at"),
        _suggest(F.col("title"), F.col("popularity")).alias("suggest"),
    )


def split_actions(actions: DataFrame) -> tuple[DataFrame, DataFrame]:
    """`sync_actions` output -> (catalog rows to upsert, video_ids to delete)."""
    _require(actions, ("video_id", "action"), "actions")
    upserts = actions.where(F.col("action") == UPSERT).drop("action", CHANGE_TYPE, COMMIT_VERSION)
    deletes = actions.where(F.col("action") == DELETE).select("video_id")
    return upserts, deletes
