"""Gold popularity for one date: silver playback -> `gold_popularity` partition date = D.

`spark-submit jobs/popularity.py --date 2026-11-05` or `vodlake job popularity --date ...`.
Idempotent: the write replaces the partition of that date and nothing else, so a rerun gives
the same rows. Reads the lookback window of silver (placement.trend_lookback_days) because the
trend and the forecast weigh past days.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake import fs
from vodlake.lake.tables import Tables
from vodlake.placement.params import ForecastParams
from vodlake.transforms.forecast import file_forecast
from vodlake.transforms.popularity import (
    chunk_requests,
    edge_attributes,
    edge_file_stats,
    invalid_chunk_events,
    popularity_from_stats,
)

Log = Callable[[str], None]


def parse_date(text: str) -> date:
    """``YYYY-MM-DD``, ``today`` or ``yesterday`` (UTC): schedulers pass ``yesterday``."""
    today = datetime.now(timezone.utc).date()
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise VodlakeError(
            f"--date {text!r} is not a date", hint="use YYYY-MM-DD, today or yesterday (UTC)"
        ) from None


def add_date_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--date", required=True, type=parse_date, metavar="D", help=help_text)


def read_silver(spark: SparkSession, cfg: Config, first: date, last: date) -> DataFrame:
    """Silver playback of event dates first..last; a clear error when there is no silver."""
    tables = Tables(cfg)
    if not tables.exists(spark, "silver_playback"):
        raise VodlakeError(
            f"no silver_playback table at {tables.path('silver_playback')}",
            hint="run the playback ingest (vodlake stream playback) first",
        )
    return tables.read(spark, "silver_playback").where(
        F.col("event_date").between(F.lit(first), F.lit(last))
    )


def segment_sizes(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """True file sizes from the `segments` table when there is one, else None."""
    tables = Tables(cfg)
    if not tables.exists(spark, "segments"):
        return None
    return (
        tables.read(spark, "segments")
        .groupBy("video_id", "rendition", "chunk_idx")
        .agg(F.max("bytes").alias("bytes"))
    )


def report_invalid(silver: DataFrame, log: Log) -> int:
    """Count chunk events that cannot be requests and say why (they are not used)."""
    reasons = invalid_chunk_events(silver).groupBy("reason").count().collect()
    total = sum(r["count"] for r in reasons)
    if total:
        detail = ", ".join(f"{r['count']} {r['reason']}" for r in sorted(reasons))
        log(f"warning: {total} chunk events left out: {detail}")
    return total


def forecast_params(cfg: Config, lookback_days: int) -> ForecastParams:
    """The configured forecast knobs (the same dataclass the offline evaluator uses)."""
    pc = cfg.placement
    return ForecastParams(
        half_life_days=pc.forecast_half_life_days,
        lookback_days=lookback_days,
        edge_prior_requests=pc.edge_prior_requests,
        region_prior_requests=pc.region_prior_requests,
        chunk_prior=pc.chunk_prior,
        mix_prior=pc.mix_prior,
        release_age_days=pc.release_age_days,
    )


def edge_regions(spark: SparkSession, cfg: Config) -> DataFrame:
    """edge_id -> region of the configured edges (demand is shrunk toward the region)."""
    return spark.createDataFrame(
        [(e.id, e.region) for e in cfg.topology.edges], "edge_id string, region string"
    )


def release_schedule(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """The catalog's titles with their release date (UTC), first genre and language.

    None without a `videos` table. A table made before `release_at` existed reads as no
    scheduled release (the column is added, null, the next time the catalog writes).
    """
    tables = Tables(cfg)
    if not tables.exists(spark, "videos"):
        return None
    videos = tables.read(spark, "videos").where(F.col("status") != "deleted")
    release = (
        F.to_date(F.col("release_at"))
        if "release_at" in videos.columns
        else F.lit(None).cast("date")
    )
    return videos.select(
        "video_id",
        release.alias("release_date"),
        F.element_at(F.col("genres"), 1).alias("genre"),
        "language",
    )


def _checkpoint(df: DataFrame) -> DataFrame:
    """``df`` computed now and kept in memory, its plan cut: later parts plan against a leaf."""
    return df.localCheckpoint()


def _small(df: DataFrame | None) -> DataFrame | None:
    """A small catalog table read once into memory: the forecast's plan refers to it several
    times, and each Delta scan there would plan (and read) the table again."""
    return None if df is None else _checkpoint(df)


def forecast_popularity(
    spark: SparkSession, cfg: Config, requests: DataFrame, day: date, lookback_days: int
) -> tuple[DataFrame, DataFrame]:
    """(per edge x file stats, cached; gold popularity with tomorrow's forecast) as of ``day``.

    The forecast (`vodlake.transforms.forecast.file_forecast`) reads the catalog: every file
    of the `segments` table and the release schedule of `videos`, so a title launching on
    ``day`` + 1 is forecast and placed before launch. The nightly job writes this as gold and
    the evaluation judges the same forecast, so both build it here. The caller unpersists the
    stats.
    """
    pc = cfg.placement
    sizes = segment_sizes(spark, cfg)
    stats = edge_file_stats(
        requests, day, half_life_days=pc.trend_half_life_days, lookback_days=lookback_days
    ).persist()
    try:
        # Each small intermediate (training counts, title demand, files, chunk curves,
        # rendition mixes) and the result are materialised: one unbroken plan repeats the
        # same subtrees hundreds of times and sat in planning and code generation for minutes.
        tomorrow = file_forecast(
            requests,
            day,
            regions=edge_regions(spark, cfg),
            params=forecast_params(cfg, lookback_days),
            files=None if sizes is None else _small(sizes.withColumnRenamed("bytes", "size")),
            titles=_small(release_schedule(spark, cfg)),
            materialise=_checkpoint,
        ).localCheckpoint()
        popularity = popularity_from_stats(
            stats,
            edge_attributes(requests),
            day,
            forecast=tomorrow,
            file_sizes=sizes,
        )
    except BaseException:
        stats.unpersist()
        raise
    return stats, popularity


def run(spark: SparkSession, cfg: Config, day: date, log: Log = print) -> dict[str, int]:
    """Compute and write gold popularity of ``day``; returns row counts."""
    pc = cfg.placement
    first = day - timedelta(days=pc.trend_lookback_days - 1)
    silver = read_silver(spark, cfg, first, day)
    invalid = report_invalid(silver, log)
    # Read silver's window once, and the per edge x file evidence once: the check below and
    # the aggregations all scan them.
    requests = chunk_requests(silver).persist()
    stats = None
    try:
        if requests.where(F.col("event_date") == F.lit(day)).limit(1).count() == 0:
            raise VodlakeError(
                f"silver_playback has no chunk requests on {day}",
                hint="check the date, or that the playback ingest has processed that day",
            )
        stats, gold = forecast_popularity(spark, cfg, requests, day, pc.trend_lookback_days)
        path = Tables(cfg).replace_date(spark, "gold_popularity", gold, day)
        summary = stats.agg(
            F.sum((F.col("day_requests") > 0).cast("long")).alias("requested"),
            F.countDistinct("edge_id").alias("edges"),
        ).first()
    finally:
        if stats is not None:
            stats.unpersist()
        requests.unpersist()
    out = {
        "rows": fs.last_write_rows(spark, path),
        "requested_files": int(summary["requested"] or 0),
        "edges": int(summary["edges"]),
        "invalid_chunk_events": invalid,
    }
    log(
        f"gold_popularity {day}: {out['rows']:,} rows over {out['edges']} edges "
        f"({out['requested_files']:,} files requested that day)"
    )
    return out
