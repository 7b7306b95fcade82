"""Where the index stands against the catalog: the saved sync position (Delta `sync_state`,
one row per alias) and the `videos` table's versions, id and Change Data Feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake import schemas
from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake.tables import Tables
from vodlake.search.index import alias_name
from vodlake.transforms.search_docs import popularity_per_video


@dataclass(frozen=True)
class SyncState:
    sync_name: str
    table_version: int
    index: str
    documents: int
    deleted: int
    synced_at: datetime
    table_id: str | None = None


def read_state(spark: SparkSession, cfg: Config) -> SyncState | None:
    """The saved sync position for this config's alias (None before the first sync)."""
    tables = Tables(cfg)
    if not tables.exists(spark, "sync_state"):
        return None
    row = tables.read(spark, "sync_state").where(F.col("sync_name") == alias_name(cfg)).first()
    return SyncState(**row.asDict()) if row else None


def save_state(
    spark: SparkSession,
    cfg: Config,
    version: int,
    index: str,
    documents: int,
    deleted: int,
    table_id: str | None,
) -> None:
    """Record that the index holds the catalog up to `version` (MERGE: one row per alias)."""
    tables = Tables(cfg)
    path = tables.ensure(spark, "sync_state")
    now = datetime.now(timezone.utc)
    row = (alias_name(cfg), version, index, documents, deleted, now, table_id)
    source = spark.createDataFrame([row], schemas.SYNC_STATE)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(source.alias("s"), "t.sync_name = s.sync_name")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


# --- catalog --------------------------------------------------------------------------------
def latest_version(spark: SparkSession, path: str) -> int:
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def table_id(spark: SparkSession, path: str) -> str:
    """The Delta table's id: it changes when the table is dropped and created again."""
    return str(DeltaTable.forPath(spark, path).detail().select("id").first()[0])


def read_changes(spark: SparkSession, path: str, start: int, end: int) -> DataFrame:
    """The Change Data Feed of `path` for versions start..end (both included)."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start)
        .option("endingVersion", end)
        .load(path)
    )


def current_popularity(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """Per-video popularity from the gold table, or None while analytics has not run."""
    tables = Tables(cfg)
    if not tables.exists(spark, "gold_popularity"):
        return None
    return popularity_per_video(tables.read(spark, "gold_popularity"))


def require_videos(spark: SparkSession, cfg: Config) -> str:
    tables = Tables(cfg)
    if not tables.exists(spark, "videos"):
        raise VodlakeError(
            f"the videos catalog does not exist yet ({tables.path('videos')})",
            hint="upload a video first (`vodlake stream uploads`), then sync",
        )
    return tables.path("videos")
