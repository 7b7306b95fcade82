"""Catalog rows for the search tests: `videos` rows with the VIDEOS schema, written with MERGE.

The upload stream owns the real `videos` writer; these helpers only make table versions (and so
Change Data Feed entries) the way it does: MERGE by video_id, DELETE by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from vodlake import schemas

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def video_row(
    video_id: str,
    title: str | None,
    *,
    status: str = "ready",
    seq: int = 1,
    genres: Iterable[str] = ("drama",),
    language: str | None = "en",
    tags: Iterable[str] = (),
    description: str | None = None,
    duration_s: float | None = 5.0,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """One `videos` row; updated_at defaults to T0 + seq seconds (microseconds kept)."""
    ready = status == "ready"
    return {
        "video_id": video_id,
        "seq": seq,
        "status": status,
        "reason": None,
        "title": title,
        "description": description,
        "tags": list(tags),
        "genres": list(genres),
        "language": language,
        "source_uri": f"file:///origin/uploads/{video_id}.mp4",
        "source_sha256": None,
        "duration_s": duration_s,
        "width": 320,
        "height": 180,
        "fps": 25.0,
        "video_codec": "h264",
        "has_audio": True,
        "size_bytes": 1000,
        "renditions": ["180p"] if ready else [],
        "hls_uri": f"file:///origin/{video_id}/master.m3u8" if ready else None,
        "dash_uri": None,
        "created_at": T0,
        "updated_at": updated_at or T0 + timedelta(seconds=seq),
    }


def videos_frame(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    names = [f.name for f in schemas.VIDEOS.fields]
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schemas.VIDEOS)


def merge_videos(spark: SparkSession, path: str, rows: list[dict[str, Any]]) -> None:
    """Upsert rows by video_id: one new table version."""
    from delta.tables import DeltaTable

    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(videos_frame(spark, rows).alias("s"), "t.video_id = s.video_id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def delete_videos(spark: SparkSession, path: str, ids: list[str]) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    DeltaTable.forPath(spark, path).delete(F.col("video_id").isin(ids))
