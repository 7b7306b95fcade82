"""Gold popularity: per date x edge x file (video x rendition x chunk), with a trend and a forecast.

Popularity follows Netflix's definition: bytes streamed from a file divided by the file's size,
i.e. how many times the file was read in full that day. It is also the knapsack density a
placement ranks by (forecast hit bytes per stored byte), which is why it is the unit here.

The trend is a decayed average over the lookback window: day ``d`` weighs
``0.5 ** ((as_of - d) / half_life)``, normalised by the weights of the days that have data, so it
reads as "reads per day". The forecast for tomorrow comes from `vodlake.transforms.forecast`
(title demand per edge shrunk toward its region, the title's chunk drop-off, the edge's
rendition mix, the release schedule); this module joins it to the day's figures.

All weighted sums are DECIMAL, so they are exact and do not depend on the order in which Spark
adds partial sums: a rerun gives identical doubles, hence identical rankings and manifests.
Pure functions: DataFrames in, DataFrames out, no session and no I/O.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from vodlake.schemas import GOLD_POPULARITY

OBJECT_KEYS: tuple[str, ...] = ("video_id", "rendition", "chunk_idx")
# Exact sums of weighted bytes: 32 integer digits (far beyond any edge's traffic), 6 decimals.
_EXACT = DecimalType(38, 6)
# The columns a request needs; chunk events lacking one are reported, not used.
_REQUIRED = ("edge_id", "session_id", "video_id", "rendition", "chunk_idx", "bytes")


def object_id(video_id: Column, rendition: Column, chunk_idx: Column) -> Column:
    """``video_id/rendition/chunk_idx``: the cache object id playback_sim.to_trace_rows uses."""
    return F.concat_ws("/", video_id, rendition, chunk_idx.cast("string"))


def invalid_chunk_events(silver: DataFrame) -> DataFrame:
    """Chunk events that cannot count as a request, with the reason (for the job to report)."""
    reason = F.coalesce(
        *[F.when(F.col(c).isNull(), F.lit(f"{c} is null")) for c in _REQUIRED],
        F.when(F.col("bytes") <= 0, F.lit("bytes is not positive")),
        F.when(F.col("chunk_idx") < 0, F.lit("chunk_idx is negative")),
    )
    return (
        silver.where(F.col("event_type") == "chunk")
        .withColumn("reason", reason)
        .where(F.col("reason").isNotNull())
    )


def chunk_requests(silver: DataFrame) -> DataFrame:
    """Silver playback -> one row per chunk request (the only events that fetch a file).

    start/stop/error events fetch nothing, so they are not requests. Chunk events that lack a
    field are left out here; `invalid_chunk_events` returns exactly those, for reporting.
    """
    valid = [F.col(c).isNotNull() for c in _REQUIRED]
    cond = valid[0]
    for c in valid[1:]:
        cond = cond & c
    return silver.where(
        (F.col("event_type") == "chunk") & cond & (F.col("bytes") > 0) & (F.col("chunk_idx") >= 0)
    ).select(
        "event_date",
        "event_time",
        F.col("event_time").cast("double").alias("time"),
        "edge_id",
        "region",
        "isp",
        "session_id",
        *OBJECT_KEYS,
        "bytes",
        object_id(F.col("video_id"), F.col("rendition"), F.col("chunk_idx")).alias("object_id"),
    )


def decay_weight(age_days: Column, half_life_days: float) -> Column:
    """Weight of a day ``age_days`` before the as-of date: halves every ``half_life_days``."""
    return F.pow(F.lit(0.5), age_days.cast("double") / F.lit(float(half_life_days)))


def edge_attributes(requests: DataFrame) -> DataFrame:
    """edge_id -> the (region, isp) most of its requests come from (ties: alphabetical)."""
    counts = requests.groupBy("edge_id", "region", "isp").agg(F.count(F.lit(1)).alias("n"))
    return (
        counts.groupBy("edge_id")
        .agg(
            F.min_by(
                F.struct("region", "isp"),
                F.struct(
                    -F.col("n"), F.coalesce("region", F.lit("")), F.coalesce("isp", F.lit(""))
                ),
            ).alias("attrs")
        )
        .select("edge_id", "attrs.region", "attrs.isp")
    )


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def edge_file_stats(
    requests: DataFrame, as_of: date | str, *, half_life_days: float, lookback_days: int
) -> DataFrame:
    """Per edge x file over the lookback window: the evidence the forecast is built from.

    Columns: edge_id, video_id, rendition, chunk_idx, ``e_o`` (decayed bytes, exact DECIMAL),
    day_requests, day_bytes, day_sessions (the as-of day; null when not requested that day),
    max_bytes (largest request seen) and ``total_w`` (the weights of the days that have data,
    the normaliser that turns decayed sums into per-day averages). A job may persist this:
    `popularity_from_stats` reads it several times.
    """
    day = _as_date(as_of)
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1 (got {lookback_days})")
    start = day - timedelta(days=lookback_days - 1)
    window = requests.where(F.col("event_date").between(F.lit(start), F.lit(day)))
    on_day = F.col("event_date") == F.lit(day)
    weight = decay_weight(F.datediff(F.lit(day), F.col("event_date")), half_life_days)
    daily = window.groupBy("event_date", "edge_id", *OBJECT_KEYS).agg(
        F.count(F.lit(1)).alias("requests"),
        F.sum("bytes").alias("bytes"),
        # distinct sessions are only reported for the as-of day: count only those
        F.countDistinct(F.when(on_day, F.col("session_id"))).alias("sessions"),
        F.max("bytes").alias("max_bytes"),
    )
    stats = daily.groupBy("edge_id", *OBJECT_KEYS).agg(
        F.sum((F.col("bytes") * weight).cast(_EXACT)).alias("e_o"),
        F.sum(F.when(on_day, F.col("requests"))).alias("day_requests"),
        F.sum(F.when(on_day, F.col("bytes"))).alias("day_bytes"),
        F.sum(F.when(on_day, F.col("sessions"))).alias("day_sessions"),
        F.max("max_bytes").alias("max_bytes"),
    )
    total_w = (
        window.select("event_date")
        .distinct()
        .agg(
            F.sum(
                decay_weight(F.datediff(F.lit(day), F.col("event_date")), half_life_days).cast(
                    _EXACT
                )
            )
            .cast("double")
            .alias("total_w")
        )
    )
    return stats.crossJoin(F.broadcast(total_w))


def popularity_from_stats(
    stats: DataFrame,
    attributes: DataFrame,
    as_of: date | str,
    *,
    forecast: DataFrame,
    file_sizes: DataFrame | None = None,
) -> DataFrame:
    """Gold popularity rows from `edge_file_stats`, `edge_attributes` and tomorrow's forecast.

    ``forecast``: `vodlake.transforms.forecast.file_forecast` rows (edge_id, video_id,
    rendition, chunk_idx, size, forecast), expected requests of each file the day after
    ``as_of``. A request reads the whole chunk file, so expected requests are expected reads:
    the same unit as popularity, and the density a placement ranks by.
    """
    day = _as_date(as_of)
    per_file = stats.groupBy(*OBJECT_KEYS).agg(F.max("max_bytes").alias("seen_bytes"))
    if file_sizes is not None:
        known = file_sizes.select(*OBJECT_KEYS, F.col("bytes").alias("known_bytes"))
        per_file = per_file.join(known, list(OBJECT_KEYS), "left")
        size = F.coalesce(F.col("known_bytes"), F.col("seen_bytes"))
    else:
        size = F.col("seen_bytes")
    per_file = per_file.select(*OBJECT_KEYS, size.cast("long").alias("stats_bytes"))
    total_w = stats.agg(F.first("total_w").alias("total_w"))
    tomorrow = forecast.select(
        "edge_id", *OBJECT_KEYS, F.col("size").alias("forecast_bytes"), "forecast"
    )
    rows = (
        stats.drop("max_bytes", "total_w")
        .join(tomorrow, ["edge_id", *OBJECT_KEYS], "full_outer")
        .join(per_file, list(OBJECT_KEYS), "left")
        .crossJoin(F.broadcast(total_w))
        .join(F.broadcast(attributes), "edge_id", "left")
        .withColumn("file_bytes", F.coalesce("stats_bytes", "forecast_bytes").cast("long"))
    )
    trend = F.coalesce(F.col("e_o").cast("double"), F.lit(0.0)) / (
        F.col("total_w") * F.col("file_bytes").cast("double")
    )
    return (
        rows.select(
            F.lit(day).alias("date"),
            "edge_id",
            "region",
            "isp",
            *OBJECT_KEYS,
            F.coalesce("day_requests", F.lit(0)).cast("long").alias("requests"),
            F.coalesce("day_bytes", F.lit(0)).cast("long").alias("bytes"),
            F.coalesce("day_sessions", F.lit(0)).cast("long").alias("sessions"),
            "file_bytes",
            (F.coalesce("day_bytes", F.lit(0)) / F.col("file_bytes").cast("double")).alias(
                "popularity"
            ),
            F.coalesce(trend, F.lit(0.0)).alias("trend"),
            F.coalesce("forecast", F.lit(0.0)).alias("forecast"),
        )
        .where((F.col("trend") > 0) | (F.col("forecast") > 0))
        .select(*[F.col(f.name).cast(f.dataType) for f in GOLD_POPULARITY.fields])
    )


def popularity(
    requests: DataFrame,
    as_of: date | str,
    *,
    half_life_days: float,
    lookback_days: int,
    forecast: DataFrame,
    file_sizes: DataFrame | None = None,
) -> DataFrame:
    """Gold popularity of ``as_of`` (GOLD_POPULARITY columns), from `chunk_requests` rows.

    Rows: every edge x file requested at that edge in the window or forecast there tomorrow
    (a file never seen at an edge, or a title launching tomorrow, can be forecast from other
    edges and earlier releases), keeping only rows with something to say.

    * requests, bytes, sessions, popularity: the as-of day at that edge (zero when not requested)
    * file_bytes: from ``file_sizes`` (video_id, rendition, chunk_idx, bytes) when it knows the
      file, else the largest request seen for it in the window, else the forecast's size
    * trend: decayed average daily popularity of the file at the edge
    * forecast: ``forecast``'s expected reads tomorrow (`vodlake.transforms.forecast`)

    Jobs call `edge_file_stats` and `popularity_from_stats` themselves to persist the stats.
    """
    day = _as_date(as_of)
    stats = edge_file_stats(
        requests, day, half_life_days=half_life_days, lookback_days=lookback_days
    )
    start = day - timedelta(days=lookback_days - 1)
    window = requests.where(F.col("event_date").between(F.lit(start), F.lit(day)))
    return popularity_from_stats(
        stats, edge_attributes(window), day, forecast=forecast, file_sizes=file_sizes
    )


def chunk_curve(gold: DataFrame) -> DataFrame:
    """Gold rows -> per chunk_idx: requests, sessions and forecast summed over edges and files.

    The shape of this curve is early abandonment: why early chunks get extra placement weight.
    """
    return (
        gold.groupBy("chunk_idx")
        .agg(
            F.sum("requests").alias("requests"),
            F.sum("sessions").alias("sessions"),
            F.sum("forecast").alias("forecast"),
        )
        .orderBy("chunk_idx")
    )


def top_files(gold: DataFrame, n: int = 20) -> DataFrame:
    """The ``n`` files with the highest forecast (ties: edge, then object id) and their figures."""
    return (
        gold.select(
            "date",
            "edge_id",
            object_id(F.col("video_id"), F.col("rendition"), F.col("chunk_idx")).alias("object_id"),
            "requests",
            "sessions",
            "file_bytes",
            "popularity",
            "trend",
            "forecast",
        )
        .orderBy(F.col("forecast").desc(), "edge_id", "object_id")
        .limit(n)
    )


__all__ = [
    "OBJECT_KEYS",
    "chunk_curve",
    "chunk_requests",
    "decay_weight",
    "edge_attributes",
    "edge_file_stats",
    "invalid_chunk_events",
    "object_id",
    "popularity",
    "popularity_from_stats",
    "top_files",
]
