"""The catalog writer: the `videos`, `renditions` and `segments` Delta tables of one config.

Every write is guarded so a replayed or late batch cannot overwrite newer state: event merges
by seq (transforms.catalog), state updates only where the table still holds the seq that was
transcoded, and output rows replaced per video with `replaceWhere`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import ArrayType, LongType, StringType, StructField, StructType

from vodlake import schemas
from vodlake.config import Config
from vodlake.lake.tables import Tables
from vodlake.transforms.catalog import (
    PROBE_FIELDS,
    VIDEOS_MERGE_ON,
    VIDEOS_UPDATE_WHEN,
    rendition_rows,
    segment_rows,
    videos_insert_values,
    videos_update_set,
)

CATALOG_TABLES = ("videos", "renditions", "segments")

# The columns set_state may write, with their types (the final state of a transcoded video).
FINAL_FIELDS = (
    ("video_id", StringType()),
    ("seq", LongType()),
    ("status", StringType()),
    ("reason", StringType()),
    *((f, schemas.VIDEOS[f].dataType) for f in PROBE_FIELDS),
    ("renditions", ArrayType(StringType())),
    ("hls_uri", StringType()),
    ("dash_uri", StringType()),
)


def in_list(ids: Iterable[str]) -> str:
    """A SQL IN list of video ids (ids match VIDEO_ID_PATTERN; quotes are doubled anyway)."""
    return ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(set(ids)))


class Catalog:
    """The three catalog tables of one configuration (created when missing)."""

    def __init__(self, spark: SparkSession, cfg: Config):
        tables = Tables(cfg)
        self.spark = spark
        self.paths = {name: tables.ensure(spark, name) for name in CATALOG_TABLES}

    def read(self, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.paths[name])

    def merge_events(self, source: DataFrame) -> None:
        (
            DeltaTable.forPath(self.spark, self.paths["videos"])
            .alias("t")
            .merge(source.alias("s"), VIDEOS_MERGE_ON)
            .whenMatchedUpdate(condition=VIDEOS_UPDATE_WHEN, set=videos_update_set())
            .whenNotMatchedInsert(values=videos_insert_values())
            .execute()
        )

    def set_state(self, rows: list[dict[str, Any]], columns: Iterable[str]) -> None:
        """Update `columns` of the videos in `rows`, only where the table still has that seq
        (a newer event arriving meanwhile is never overwritten)."""
        cols = ["video_id", "seq", *[c for c in columns if c not in ("video_id", "seq")]]
        fields = dict(FINAL_FIELDS)
        schema = StructType([StructField(c, fields[c], True) for c in cols])
        df = self.spark.createDataFrame([{c: r.get(c) for c in cols} for r in rows], schema)
        updates = {c: f"s.{c}" for c in cols[2:]} | {"updated_at": "current_timestamp()"}
        (
            DeltaTable.forPath(self.spark, self.paths["videos"])
            .alias("t")
            .merge(df.alias("s"), "t.video_id = s.video_id AND t.seq = s.seq")
            .whenMatchedUpdate(set=updates)
            .execute()
        )

    def mark_transcoding(self, todo: list[dict[str, Any]]) -> None:
        """uploaded -> transcoding for these (video_id, seq): one UPDATE, no join."""
        match = " OR ".join(
            f"(video_id = {in_list([t['video_id']])} AND seq = {int(t['seq'])})" for t in todo
        )
        DeltaTable.forPath(self.spark, self.paths["videos"]).update(
            condition=f"({match}) AND status IN ('uploaded', 'transcoding')",
            set={"status": "'transcoding'", "reason": "NULL", "updated_at": "current_timestamp()"},
        )

    def replace_outputs(self, video_ids: list[str], packaged: DataFrame | None) -> None:
        """Replace the rendition and segment rows of `video_ids` (none for failed/deleted)."""
        if not video_ids:
            return
        where = f"video_id IN ({in_list(video_ids)})"
        for name, build, schema in (
            ("renditions", rendition_rows, schemas.RENDITIONS),
            ("segments", segment_rows, schemas.SEGMENTS),
        ):
            rows = (
                build(packaged) if packaged is not None else self.spark.createDataFrame([], schema)
            )
            (
                rows.write.format("delta")
                .mode("overwrite")
                .option("replaceWhere", where)
                .save(self.paths[name])
            )
