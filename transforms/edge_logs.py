"""Edge request logs: nginx JSON lines (bronze rows) -> edge_requests rows or a reason; gold.

Pure DataFrame -> DataFrame (no session, no I/O). The line format is
vodlake.delivery.edges.LOG_FIELDS: every value a string, "" when nginx had none.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from vodlake.schemas import EDGE_LOG_LINE, EDGE_REQUESTS
from vodlake.transforms.playback import utc_date

QUARANTINE_SOURCE = "edge-logs"
# Statuses an edge counts as served from where: PREFILL (its store), HIT (its cache), the rest
# went to the origin (MISS, EXPIRED, REVALIDATED, STALE, BYPASS, UPDATING) or nowhere (NONE).
LOCAL = ("PREFILL", "HIT")
_REQUEST_ID = r"^[0-9a-f]{32}$"
_NUMBER = r"^[0-9]+(\.[0-9]+)?$"


def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def _nonblank(c: Column) -> Column:
    """The value, or null when nginx logged "" (F.nullif cannot take a struct field here)."""
    return F.when(F.trim(c) != "", c)


def _first_number(c: Column) -> Column:
    """nginx lists one value per upstream tried ("0.010, 0.002"); "-" when none answered."""
    return _nonblank(F.regexp_extract(c, r"([0-9]+(\.[0-9]+)?)", 1)).cast("double")


def _sum_numbers(c: Column) -> Column:
    parts = F.split(F.coalesce(c, F.lit("")), r"[,:]\s*")
    return F.aggregate(
        parts,
        F.lit(0).cast("long"),
        lambda acc, x: acc + F.coalesce(F.trim(x).cast("long"), F.lit(0)),
    )


def _cmcd(key: str, pattern: str) -> Column:
    """A key of the CMCD query argument (CTA-5004: `CMCD=br%3D3200%2Csid%3D%22...%22`)."""
    decoded = F.url_decode(F.coalesce(F.col("line.cmcd"), F.lit("")))
    return _nonblank(F.regexp_extract(decoded, rf"(?:^|,){key}={pattern}", 1))


def parse_edge_logs(bronze: DataFrame) -> DataFrame:
    """Bronze rows -> the edge_requests columns plus `reason` (null when the line is valid)
    and `raw_value`. A line is rejected, with the first reason that applies, when it is not a
    JSON object, lacks a well-formed request_id, names another edge than its Kafka key, or has
    a time, status, byte count or duration that is not a number."""
    raw = F.col("value").cast("string")
    line = F.from_json(raw, EDGE_LOG_LINE)
    rows = bronze.select(
        raw.alias("raw_value"),
        F.col("key"),
        F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").cast("long").alias("kafka_offset"),
        line.alias("line"),
    )
    ln = {f.name: F.col(f"line.{f.name}") for f in EDGE_LOG_LINE.fields}
    reason = F.coalesce(
        F.when(F.col("line").isNull() | ln["request_id"].isNull(), F.lit("not an edge log line")),
        F.when(~ln["request_id"].rlike(_REQUEST_ID), F.lit("request_id is not 32 hex digits")),
        F.when(_blank(ln["edge"]), F.lit("edge is missing")),
        F.when(F.col("key") != ln["edge"], F.lit("edge does not match the Kafka key")),
        F.when(~ln["msec"].rlike(_NUMBER), F.lit("msec is not a number")),
        F.when(~ln["status"].rlike(r"^[1-5][0-9][0-9]$"), F.lit("status is not an HTTP status")),
        F.when(~ln["bytes"].rlike(r"^[0-9]+$"), F.lit("bytes is not a count")),
        F.when(~ln["request_time"].rlike(_NUMBER), F.lit("request_time is not a number")),
        F.when(_blank(ln["method"]) | _blank(ln["path"]), F.lit("method or path is missing")),
        F.when(_blank(ln["cache"]), F.lit("cache status is missing")),
    )
    when = F.timestamp_micros((ln["msec"].cast("decimal(20,3)") * 1_000_000).cast("long"))
    sid = F.coalesce(_nonblank(ln["sid"]), _cmcd("sid", r'"([^"]*)"'))
    br = F.coalesce(_nonblank(ln["br"]), _cmcd("br", r"([0-9]+)"))
    return rows.select(
        reason.alias("reason"),
        "raw_value",
        ln["request_id"].alias("request_id"),
        ln["edge"].alias("edge_id"),
        when.alias("request_time"),
        utc_date(when).alias("date"),
        _nonblank(ln["client"]).alias("client_ip"),
        ln["method"].alias("method"),
        ln["path"].alias("path"),
        _nonblank(F.regexp_extract(ln["path"], r"^/videos/([^/]+)/", 1)).alias("video_id"),
        ln["status"].cast("int").alias("status"),
        ln["bytes"].cast("long").alias("bytes"),
        _nonblank(ln["range"]).alias("range"),
        ln["cache"].alias("cache_status"),
        ln["request_time"].cast("double").alias("duration_s"),
        _first_number(ln["upstream_time"]).alias("upstream_s"),
        _first_number(ln["upstream_header_time"]).alias("upstream_header_s"),
        _sum_numbers(ln["upstream_bytes"]).alias("upstream_bytes"),
        _nonblank(ln["upstream_status"]).alias("upstream_status"),
        sid.alias("session_id"),
        br.cast("int").alias("bitrate_kbps"),
        "kafka_partition",
        "kafka_offset",
    )


def valid_requests(parsed: DataFrame) -> DataFrame:
    """The valid rows in edge_requests columns, one per request_id (a line shipped twice)."""
    cols = [F.col(f.name).cast(f.dataType).alias(f.name) for f in EDGE_REQUESTS.fields]
    return parsed.where(F.col("reason").isNull()).select(*cols).dropDuplicates(["request_id"])


def rejected_lines(parsed: DataFrame) -> DataFrame:
    return parsed.where(F.col("reason").isNotNull()).select(
        "reason", "raw_value", "kafka_partition", "kafka_offset"
    )


def gold_edge_daily(requests: DataFrame, fills: DataFrame) -> DataFrame:
    """Per edge and day: requests, bytes by where they came from, origin and fill traffic, TTFB.

    `requests` are edge_requests rows, `fills` edge_fills rows with `day` (the day the bytes
    moved). Byte hit ratio = (PREFILL + HIT bytes) / all bytes served. TTFB is the time until
    the edge had the response header: the origin's header time for requests that went there,
    else nginx's request time (an upper bound for a file served from local disk).
    """
    served = F.col("bytes")
    local_bytes = F.when(F.col("cache_status").isin(*LOCAL), served).otherwise(0)
    ttfb_ms = F.when(
        F.col("path").startswith("/videos/") & (F.col("status") < 400),
        1000.0 * F.coalesce(F.col("upstream_header_s"), F.col("duration_s")),
    )
    per_edge = requests.groupBy("date", "edge_id").agg(
        F.count(F.lit(1)).alias("requests"),
        F.count(F.when(F.col("status") >= 400, 1)).alias("errors"),
        F.sum(served).alias("bytes_served"),
        F.sum(F.when(F.col("cache_status") == "PREFILL", served).otherwise(0)).alias(
            "prefill_bytes"
        ),
        F.sum(F.when(F.col("cache_status") == "HIT", served).otherwise(0)).alias("hit_bytes"),
        F.sum(served - local_bytes).alias("miss_bytes"),
        F.sum("upstream_bytes").alias("origin_bytes"),
        F.percentile_approx(ttfb_ms, 0.5, 10_000).alias("ttfb_p50_ms"),
        F.percentile_approx(ttfb_ms, 0.95, 10_000).alias("ttfb_p95_ms"),
    )
    moved = (
        fills.where(F.col("result") == "filled")
        .groupBy(F.col("day").alias("date"), "edge_id")
        .agg(
            F.sum(F.when(F.col("source").startswith("peer:"), F.col("bytes")).otherwise(0)).alias(
                "fill_bytes_peer"
            ),
            F.sum(F.when(F.col("source") == "origin", F.col("bytes")).otherwise(0)).alias(
                "fill_bytes_origin"
            ),
        )
    )
    out = per_edge.join(moved, ["date", "edge_id"], "full_outer")
    zero = F.lit(0).cast("long")
    counts = ("requests", "errors", "bytes_served", "prefill_bytes", "hit_bytes", "miss_bytes")
    filled = out.select(
        "date",
        "edge_id",
        *[F.coalesce(F.col(c), zero).alias(c) for c in counts],
        F.coalesce(F.col("origin_bytes"), zero).alias("origin_bytes"),
        F.coalesce(F.col("fill_bytes_peer"), zero).alias("fill_bytes_peer"),
        F.coalesce(F.col("fill_bytes_origin"), zero).alias("fill_bytes_origin"),
        "ttfb_p50_ms",
        "ttfb_p95_ms",
    )
    ratio = F.when(
        F.col("bytes_served") > 0,
        (F.col("prefill_bytes") + F.col("hit_bytes")) / F.col("bytes_served"),
    )
    return filled.withColumn("byte_hit_ratio", ratio)
