"""Every event and table schema, as a StructType: the one place that defines them.

Events on Kafka are JSON with these fields; tables are Delta with these columns. Nothing here
imports from vodlake.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _s(*fields: tuple[str, object, bool]) -> StructType:
    return StructType([StructField(name, dtype, nullable) for name, dtype, nullable in fields])  # type: ignore[arg-type]


# --- the foundation demo ------------------------------------------------------------------
DEMO_EVENT = _s(
    ("event_id", StringType(), False),
    ("video_id", StringType(), False),
    ("title", StringType(), True),
    ("seq", LongType(), False),
    ("event_time", TimestampType(), False),
)
DEMO_TABLE = _s(
    *((f.name, f.dataType, f.nullable) for f in DEMO_EVENT.fields),
    ("kafka_partition", IntegerType(), False),
    ("kafka_offset", LongType(), False),
    ("ingested_at", TimestampType(), False),
)

# --- uploads and the catalog --------------------------------------------------------------
UPLOAD_EVENT_TYPES = ("uploaded", "metadata_updated", "deleted")
# Video ids become folder names on origin storage: letters, digits, '-' and '_' only.
# Unanchored: match it whole (Python re.fullmatch; Java/Spark "^...\z", since "$" also
# matches before a trailing newline in both).
VIDEO_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
UPLOAD_EVENT = _s(
    ("event_id", StringType(), False),
    ("video_id", StringType(), False),
    ("seq", LongType(), False),
    ("type", StringType(), False),
    ("source_uri", StringType(), True),
    ("source_sha256", StringType(), True),
    ("title", StringType(), True),
    ("description", StringType(), True),
    ("tags", ArrayType(StringType()), True),
    ("genres", ArrayType(StringType()), True),
    ("language", StringType(), True),
    # When the title launches (UTC), known ahead: the nightly forecast fills it before then.
    ("release_at", TimestampType(), True),
    ("event_time", TimestampType(), False),
)

VIDEO_STATUSES = ("uploaded", "transcoding", "ready", "failed", "deleted")
VIDEOS = _s(
    ("video_id", StringType(), False),
    ("seq", LongType(), False),
    ("status", StringType(), False),
    ("reason", StringType(), True),
    ("title", StringType(), True),
    ("description", StringType(), True),
    ("tags", ArrayType(StringType()), True),
    ("genres", ArrayType(StringType()), True),
    ("language", StringType(), True),
    # The release schedule (null: long released, or a row from before the column existed).
    ("release_at", TimestampType(), True),
    ("source_uri", StringType(), True),
    ("source_sha256", StringType(), True),
    ("duration_s", DoubleType(), True),
    ("width", IntegerType(), True),
    ("height", IntegerType(), True),
    ("fps", DoubleType(), True),
    ("video_codec", StringType(), True),
    ("has_audio", BooleanType(), True),
    ("size_bytes", LongType(), True),
    # The source's colour (ffprobe names); dynamic_range is sdr, pq (HDR10) or hlg. The ladder
    # itself is always 8-bit BT.709 SDR (tone mapped from HDR).
    ("pix_fmt", StringType(), True),
    ("bit_depth", IntegerType(), True),
    ("color_primaries", StringType(), True),
    ("color_transfer", StringType(), True),
    ("color_space", StringType(), True),
    ("color_range", StringType(), True),
    ("dynamic_range", StringType(), True),
    ("renditions", ArrayType(StringType()), True),
    ("hls_uri", StringType(), True),
    ("dash_uri", StringType(), True),
    ("created_at", TimestampType(), True),
    ("updated_at", TimestampType(), False),
)
# One encode unit of a video, as vodlake.catalog.transcode.plan_units writes it (JSON) from
# vodlake.media.plan.plan_chunks: kind video (a frame range) or audio (unit_idx -1).
ENCODE_UNIT = _s(
    ("kind", StringType(), False),
    ("unit_idx", IntegerType(), False),
    ("start_s", DoubleType(), False),
    ("duration_s", DoubleType(), False),
    ("start_frame", LongType(), True),
    ("frames", LongType(), True),
    ("first_segment", IntegerType(), False),
    ("segments", IntegerType(), True),
)
# One row per rendition of a video; the audio track is the rendition "audio" (kind audio,
# no picture size). `codecs` is the RFC 6381 string players match against (avc1.64001e).
RENDITIONS = _s(
    ("video_id", StringType(), False),
    ("rendition", StringType(), False),
    ("kind", StringType(), False),
    ("codec", StringType(), False),
    ("codecs", StringType(), True),
    ("width", IntegerType(), True),
    ("height", IntegerType(), True),
    ("bitrate_kbps", IntegerType(), False),
    ("bandwidth_bps", LongType(), True),
    ("segments", IntegerType(), True),
    ("duration_s", DoubleType(), True),
    ("bytes", LongType(), True),
    ("playlist_uri", StringType(), False),
    ("init_uri", StringType(), True),
    ("updated_at", TimestampType(), False),
)
# One row per media segment. chunk_idx is the segment number (what players request and edges
# cache); unit_idx is the encode unit that produced it, with the executor and the task attempt
# that ran that unit (task records: they show where the distributed encode ran).
SEGMENTS = _s(
    ("video_id", StringType(), False),
    ("rendition", StringType(), False),
    ("chunk_idx", IntegerType(), False),
    ("start_s", DoubleType(), False),
    ("duration_s", DoubleType(), False),
    ("bytes", LongType(), False),
    ("sha256", StringType(), False),
    ("uri", StringType(), False),
    ("unit_idx", IntegerType(), True),
    ("executor_id", StringType(), True),
    ("attempt", IntegerType(), True),
)

# --- playback telemetry ---------------------------------------------------------------------
PLAYBACK_EVENT_TYPES = ("start", "chunk", "stop", "error")
PLAYBACK_EVENT = _s(
    ("event_id", StringType(), False),
    ("session_id", StringType(), False),
    ("user_id", StringType(), False),
    ("device", StringType(), True),
    ("client_ip", StringType(), True),
    ("region", StringType(), False),
    ("isp", StringType(), False),
    ("video_id", StringType(), False),
    ("rendition", StringType(), True),
    ("chunk_idx", IntegerType(), True),
    ("bytes", LongType(), True),
    ("edge_id", StringType(), True),
    ("cache_status", StringType(), True),
    ("startup_ms", IntegerType(), True),
    ("rebuffer_ms", IntegerType(), True),
    ("event_type", StringType(), False),
    ("event_time", TimestampType(), False),
)
BRONZE_PLAYBACK = _s(
    ("key", StringType(), True),
    ("value", BinaryType(), True),
    ("topic", StringType(), False),
    ("partition", IntegerType(), False),
    ("offset", LongType(), False),
    ("kafka_timestamp", TimestampType(), True),
    ("ingested_at", TimestampType(), False),
    ("batch_id", LongType(), False),
)
SILVER_PLAYBACK = _s(
    *((f.name, f.dataType, f.nullable) for f in PLAYBACK_EVENT.fields),
    ("event_date", DateType(), False),
    ("kafka_partition", IntegerType(), True),
    ("kafka_offset", LongType(), True),
)
QUARANTINE = _s(
    ("source", StringType(), False),
    ("reason", StringType(), False),
    ("raw_value", StringType(), True),
    ("kafka_partition", IntegerType(), True),
    ("kafka_offset", LongType(), True),
    ("quarantined_at", TimestampType(), False),
)

# --- analytics ------------------------------------------------------------------------------
GOLD_POPULARITY = _s(
    ("date", DateType(), False),
    ("edge_id", StringType(), False),
    ("region", StringType(), True),
    ("isp", StringType(), True),
    ("video_id", StringType(), False),
    ("rendition", StringType(), False),
    ("chunk_idx", IntegerType(), False),
    ("requests", LongType(), False),
    ("bytes", LongType(), False),
    ("sessions", LongType(), False),
    ("file_bytes", LongType(), False),
    ("popularity", DoubleType(), False),
    ("trend", DoubleType(), False),
    ("forecast", DoubleType(), False),
)
PLACEMENT = _s(
    ("date", DateType(), False),
    ("edge_id", StringType(), False),
    ("object_id", StringType(), False),
    ("video_id", StringType(), False),
    ("rendition", StringType(), False),
    ("chunk_idx", IntegerType(), False),
    ("bytes", LongType(), False),
    ("score", DoubleType(), False),
    ("action", StringType(), False),
    ("reason", StringType(), False),
)
# One row per test date x edge (edge_id "ALL" = every edge summed) x policy x capacity: what
# the prefill, its bound (clairvoyant-static), the compulsory-miss ceiling and the warm
# baselines served on the test day. Capacities are shares of the edge's test-day working set
# (capacity_fraction) or its configured capacity_bytes (capacity_label "configured").
PLACEMENT_EVAL = _s(
    ("date", DateType(), False),
    ("train_start", DateType(), False),
    ("train_end", DateType(), False),
    ("edge_id", StringType(), False),
    ("policy", StringType(), False),
    ("capacity_label", StringType(), False),
    ("capacity_fraction", DoubleType(), False),
    ("capacity_bytes", LongType(), False),
    ("working_set_bytes", LongType(), False),
    ("requests", LongType(), False),
    ("hits", LongType(), False),
    ("hit_ratio", DoubleType(), False),
    ("bytes", LongType(), False),
    ("hit_bytes", LongType(), False),
    ("byte_hit_ratio", DoubleType(), False),
    ("manifest_objects", LongType(), True),
    ("manifest_bytes", LongType(), True),
    ("note", StringType(), True),
)

# --- edges (vodlake.delivery) ---------------------------------------------------------------
# One row per file the fill agent handled for a manifest date: result filled|kept|dropped|
# rejected|failed|deferred, source "origin", "peer:<edge_id>" or "" (nothing moved).
EDGE_FILLS = _s(
    ("date", DateType(), False),
    ("edge_id", StringType(), False),
    ("run_id", StringType(), False),
    ("video_id", StringType(), False),
    ("object_id", StringType(), True),
    ("path", StringType(), False),
    ("bytes", LongType(), False),
    ("source", StringType(), False),
    ("seconds", DoubleType(), False),
    ("result", StringType(), False),
    ("reason", StringType(), True),
    ("sha256", StringType(), True),
    ("filled_at", TimestampType(), False),
)
# What each edge holds in its prefill store after the fill of `date` (object_id is null for a
# title's playlists and init segments); the steering service reads it.
EDGE_INVENTORY = _s(
    ("date", DateType(), False),
    ("edge_id", StringType(), False),
    ("video_id", StringType(), False),
    ("object_id", StringType(), True),
    ("path", StringType(), False),
    ("bytes", LongType(), False),
    ("sha256", StringType(), True),
    ("reported_at", TimestampType(), False),
)
# One nginx access log line as the edge writes it (vodlake.delivery.edges.LOG_FIELDS): all
# strings, "" when nginx has no value.
EDGE_LOG_LINE = _s(
    *(
        (name, StringType(), True)
        for name in (
            "request_id", "time", "msec", "edge", "client", "method", "path", "status", "bytes",
            "range", "cache", "request_time", "upstream_time", "upstream_header_time",
            "upstream_bytes", "upstream_status", "sid", "br", "cmcd",
        )
    )
)  # fmt: skip
BRONZE_EDGE_REQUESTS = BRONZE_PLAYBACK
EDGE_REQUESTS = _s(
    ("request_id", StringType(), False),
    ("edge_id", StringType(), False),
    ("request_time", TimestampType(), False),
    ("date", DateType(), False),
    ("client_ip", StringType(), True),
    ("method", StringType(), False),
    ("path", StringType(), False),
    ("video_id", StringType(), True),
    ("status", IntegerType(), False),
    ("bytes", LongType(), False),
    ("range", StringType(), True),
    ("cache_status", StringType(), False),
    ("duration_s", DoubleType(), False),
    ("upstream_s", DoubleType(), True),
    ("upstream_header_s", DoubleType(), True),
    ("upstream_bytes", LongType(), False),
    ("upstream_status", StringType(), True),
    ("session_id", StringType(), True),
    ("bitrate_kbps", IntegerType(), True),
    ("kafka_partition", IntegerType(), True),
    ("kafka_offset", LongType(), True),
)
# Per edge and day: bytes served by where they came from, origin and fill traffic, TTFB.
GOLD_EDGE_DAILY = _s(
    ("date", DateType(), False),
    ("edge_id", StringType(), False),
    ("requests", LongType(), False),
    ("errors", LongType(), False),
    ("bytes_served", LongType(), False),
    ("prefill_bytes", LongType(), False),
    ("hit_bytes", LongType(), False),
    ("miss_bytes", LongType(), False),
    ("byte_hit_ratio", DoubleType(), True),
    ("origin_bytes", LongType(), False),
    ("fill_bytes_peer", LongType(), False),
    ("fill_bytes_origin", LongType(), False),
    ("ttfb_p50_ms", DoubleType(), True),
    ("ttfb_p95_ms", DoubleType(), True),
)

# --- search ---------------------------------------------------------------------------------
# One row per alias: the `videos` version the index holds. `table_id` is the Delta table's id,
# so a catalog dropped and recreated (versions restart) is noticed instead of half-synced.
SYNC_STATE = _s(
    ("sync_name", StringType(), False),
    ("table_version", LongType(), False),
    ("index", StringType(), False),
    ("documents", LongType(), False),
    ("deleted", LongType(), False),
    ("synced_at", TimestampType(), False),
    ("table_id", StringType(), True),
)
