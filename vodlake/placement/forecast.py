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


def forecast_popularity(
    spark: SparkSession, cfg: Config, requests: DataFrame, day: date, lookback_days: int
) -> tuple[DataFrame, DataFrame]:
    """(per edge x file stats, cached; popularity with trend and forecast) as of ``day``.

    The nightly job writes this as gold and the evaluation judges the same forecast, so both
    build it here. The caller unpersists the stats.
    """
    pc = cfg.placement
    stats = edge_file_stats(
        requests, day, half_life_days=pc.trend_half_life_days, lookback_days=lookback_days
    ).persist()
    try:
        popularity = popularity_from_stats(
            stats,
            edge_attributes(requests),
            day,
            local_weight=pc.local_weight,
            file_sizes=segment_sizes(spark, cfg),
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
