"""Pure transforms for the upload -> catalog flow (no session, no I/O).

- `parse_upload_events`: Kafka rows -> typed upload events, each with the reason it is invalid
  (null when valid), so the caller reports bad events instead of dropping them.
- `merge_source`: one row per video for the `videos` MERGE: the latest seq and, separately,
  the latest upload, delete and metadata event of the micro-batch.
- `VIDEOS_MERGE_*`, `videos_update_set`, `videos_insert_values`: the MERGE itself, as SQL
  expressions over `t` (the table) and `s` (merge_source). The update runs only when
  `s.seq > t.seq`, and within it each part of the batch (upload, delete, metadata) applies only
  when its own seq is newer than the table's, so a late or duplicated event never overwrites
  newer state.
- `explode_units`: probed videos -> one row per encode unit, from the plan the probe task
  made (vodlake.catalog.transcode.plan_units over vodlake.media.plan.plan_chunks: the one
  place units are planned).
- `rendition_rows`, `segment_rows`: the package step's JSON rows -> catalog rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StructType

from vodlake.schemas import (
    ENCODE_UNIT,
    RENDITIONS,
    SEGMENTS,
    UPLOAD_EVENT,
    UPLOAD_EVENT_TYPES,
    VIDEO_ID_PATTERN,
)

AUDIO_UNIT = -1  # the unit_idx of a video's audio unit (vodlake.transcode.AUDIO_UNIT)


# --- events -------------------------------------------------------------------------------
def parse_upload_events(kafka_df: DataFrame) -> DataFrame:
    """Kafka rows -> the UPLOAD_EVENT fields, Kafka position, raw value and `invalid_reason`."""
    e = F.col("e")
    raw = F.col("value").cast("string")
    reason = (
        F.when(e.isNull() | e.event_id.isNull(), F.lit("not an upload event (no event_id)"))
        .when(e.video_id.isNull(), F.lit("missing video_id"))
        .when(~e.video_id.rlike(f"^{VIDEO_ID_PATTERN}\\z"), F.lit("bad video_id"))
        .when(e.seq.isNull(), F.lit("missing or non-numeric seq"))
        .when(e.seq < 0, F.lit("negative seq"))
        .when(~e.type.isin(*UPLOAD_EVENT_TYPES), F.lit("unknown event type"))
        .when((e.type == "uploaded") & e.source_uri.isNull(), F.lit("uploaded without source_uri"))
        .when(e.event_time.isNull(), F.lit("missing or bad event_time"))
    )
    return kafka_df.select(
        F.from_json(raw, UPLOAD_EVENT, {"mode": "PERMISSIVE"}).alias("e"),
        raw.alias("raw_value"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
    ).select(
        *(F.col(f"e.{f.name}").alias(f.name) for f in UPLOAD_EVENT.fields),
        "raw_value",
        "kafka_partition",
        "kafka_offset",
        reason.alias("invalid_reason"),
    )


_META = ("title", "description", "tags", "genres", "language", "release_at")


def merge_source(events: DataFrame, now: Column | None = None) -> DataFrame:
    """Valid events -> one row per video: the latest seq, and the latest upload / delete /
    metadata of the batch with their own seqs (ties on seq broken by event_id)."""
    valid = events.where(F.col("invalid_reason").isNull())
    is_upload = F.col("type") == "uploaded"
    has_meta = F.col("type").isin("uploaded", "metadata_updated")
    agg = valid.groupBy("video_id").agg(
        F.max("seq").alias("seq"),
        F.max(
            F.when(
                is_upload,
                F.struct("seq", "event_id", "source_uri", "source_sha256", "event_time"),
            )
        ).alias("up"),
        F.max(F.when(F.col("type") == "deleted", F.col("seq"))).alias("delete_seq"),
        F.max(F.when(has_meta, F.struct("seq", "event_id", *_META))).alias("md"),
        F.min("event_time").alias("first_event_time"),
    )
    return agg.select(
        "video_id",
        "seq",
        F.col("up.seq").alias("upload_seq"),
        F.col("up.source_uri").alias("source_uri"),
        F.col("up.source_sha256").alias("source_sha256"),
        "delete_seq",
        F.col("md.seq").alias("meta_seq"),
        *(F.col(f"md.{m}").alias(m) for m in _META),
        F.coalesce(F.col("up.event_time"), F.col("first_event_time")).alias("created_at"),
        (now if now is not None else F.current_timestamp()).alias("updated_at"),
    )


VIDEOS_MERGE_ON = "t.video_id = s.video_id"
VIDEOS_UPDATE_WHEN = "s.seq > t.seq"
_FRESH_UPLOAD = "(s.upload_seq IS NOT NULL AND s.upload_seq > t.seq)"
_FRESH_DELETE = (
    "(s.delete_seq IS NOT NULL AND s.delete_seq > t.seq "
    "AND (s.upload_seq IS NULL OR s.delete_seq > s.upload_seq))"
)
_FRESH_META = "(s.meta_seq IS NOT NULL AND s.meta_seq > t.seq)"
# Facts of the stored source (probe) and of its packaging; a new upload clears them.
PROBE_FIELDS = (
    "duration_s", "width", "height", "fps", "video_codec", "has_audio", "size_bytes",
    "pix_fmt", "bit_depth", "color_primaries", "color_transfer", "color_space", "color_range",
    "dynamic_range",
)  # fmt: skip
OUTPUT_FIELDS = ("renditions", "hls_uri", "dash_uri")
NEVER_UPLOADED = "metadata for a video that was never uploaded"


def videos_update_set() -> dict[str, str]:
    """SET expressions for `whenMatchedUpdate(condition=VIDEOS_UPDATE_WHEN, set=...)`."""
    out = {
        "seq": "s.seq",
        "status": (
            f"CASE WHEN {_FRESH_DELETE} THEN 'deleted' WHEN {_FRESH_UPLOAD} THEN 'uploaded' "
            "ELSE t.status END"
        ),
        "reason": f"CASE WHEN {_FRESH_DELETE} OR {_FRESH_UPLOAD} THEN NULL ELSE t.reason END",
        "source_uri": f"CASE WHEN {_FRESH_UPLOAD} THEN s.source_uri ELSE t.source_uri END",
        "source_sha256": f"CASE WHEN {_FRESH_UPLOAD} THEN s.source_sha256 ELSE t.source_sha256 END",
        "updated_at": "s.updated_at",
    }
    for f in PROBE_FIELDS:
        out[f] = f"CASE WHEN {_FRESH_UPLOAD} THEN NULL ELSE t.{f} END"
    for f in OUTPUT_FIELDS:
        out[f] = f"CASE WHEN {_FRESH_UPLOAD} OR {_FRESH_DELETE} THEN NULL ELSE t.{f} END"
    for f in _META:
        out[f] = f"CASE WHEN {_FRESH_META} THEN coalesce(s.{f}, t.{f}) ELSE t.{f} END"
    return out


def videos_insert_values() -> dict[str, str]:
    """VALUES for `whenNotMatchedInsert`: a video seen for the first time."""
    deleted = "(s.delete_seq IS NOT NULL AND (s.upload_seq IS NULL OR s.delete_seq > s.upload_seq))"
    out = {
        "video_id": "s.video_id",
        "seq": "s.seq",
        "status": (
            f"CASE WHEN {deleted} THEN 'deleted' WHEN s.upload_seq IS NOT NULL THEN 'uploaded' "
            "ELSE 'failed' END"
        ),
        "reason": (
            f"CASE WHEN NOT {deleted} AND s.upload_seq IS NULL THEN '{NEVER_UPLOADED}' "
            "ELSE NULL END"
        ),
        "source_uri": "s.source_uri",
        "source_sha256": "s.source_sha256",
        "created_at": "s.created_at",
        "updated_at": "s.updated_at",
    }
    for f in _META:
        out[f] = f"s.{f}"
    return out


# --- units --------------------------------------------------------------------------------
def explode_units(probed: DataFrame) -> DataFrame:
    """Probed videos (video_id, seq, source_uri, probe, rungs, plan) -> one row per unit.

    `plan` is the JSON list of schemas.ENCODE_UNIT the probe task wrote: `unit_idx` 0.. for
    frame ranges of whole segments, AUDIO_UNIT (-1) for the audio track when there is one.
    """
    keep = ["video_id", "seq", "source_uri", "probe", "rungs"]
    unit = F.explode(F.from_json("plan", ArrayType(ENCODE_UNIT))).alias("u")
    return probed.select(*keep, unit).select(
        *keep, *(F.col(f"u.{f.name}").alias(f.name) for f in ENCODE_UNIT.fields)
    )


# --- catalog rows -------------------------------------------------------------------------
def _without(schema: StructType, *names: str) -> StructType:
    return StructType([f for f in schema.fields if f.name not in names])


def rendition_rows(packaged: DataFrame, now: Column | None = None) -> DataFrame:
    """Package results (a `renditions` JSON column) -> `renditions` table rows."""
    parsed = packaged.select(
        F.explode(F.from_json("renditions", ArrayType(_without(RENDITIONS, "updated_at")))).alias(
            "r"
        )
    )
    return parsed.select(
        *(F.col(f"r.{f.name}").alias(f.name) for f in RENDITIONS.fields if f.name != "updated_at"),
        (now if now is not None else F.current_timestamp()).alias("updated_at"),
    ).select(*(F.col(f.name).cast(f.dataType) for f in RENDITIONS.fields))


def segment_rows(packaged: DataFrame) -> DataFrame:
    """Package results (a `segments` JSON column) -> `segments` table rows."""
    parsed = packaged.select(F.explode(F.from_json("segments", ArrayType(SEGMENTS))).alias("s"))
    return parsed.select(*(F.col(f"s.{f.name}").cast(f.dataType).alias(f.name) for f in SEGMENTS))


__all__ = [
    "AUDIO_UNIT",
    "NEVER_UPLOADED",
    "OUTPUT_FIELDS",
    "PROBE_FIELDS",
    "VIDEOS_MERGE_ON",
    "VIDEOS_UPDATE_WHEN",
    "explode_units",
    "merge_source",
    "parse_upload_events",
    "rendition_rows",
    "segment_rows",
    "videos_insert_values",
    "videos_update_set",
]
