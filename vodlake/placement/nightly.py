"""The nightly chain for one date: silver -> popularity -> placement + manifests -> evaluation.

`vodlake nightly --date yesterday` (or `spark-submit jobs/nightly.py --date 2026-11-05`) runs
what an edge fill needs after day D closes, in one Spark session:

1. silver: check that the playback ingest has landed day D (the ingest is a stream that runs
   all day; this chain only reads what it wrote);
2. popularity: gold_popularity of D;
3. placement: placement of D and one prefill manifest per edge for the fill after D;
4. evaluate: how the forecast made from the days before D would have served D's requests,
   against its bound (the clairvoyant static fill) and LRU / Belady warmed on the day before
   (skipped with a message when there is no earlier history).

Every step replaces only date D's output, so rerunning the chain (or one step, with --steps)
is safe. conf/schedule/ holds the cron line and a Databricks-Jobs-style definition of it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.delivery import logs as edge_logs
from vodlake.errors import VodlakeError
from vodlake.placement import evaluation as evaluate_placement
from vodlake.placement import forecast as popularity
from vodlake.placement import manifests as placement
from vodlake.placement import replay
from vodlake.placement.forecast import add_date_argument, read_silver
from vodlake.runtime import config_from, spark_from

Log = Callable[[str], None]
# edges: gold_edge_daily of D from the edges' request logs and fills (vodlake.delivery.logs)
STEPS: tuple[str, ...] = ("silver", "popularity", "placement", "evaluate", "edges")


def check_silver(spark: SparkSession, cfg: Config, day: date, log: Log = print) -> dict[str, Any]:
    """Rows and chunk requests of ``day`` in silver; an error when the day is missing."""
    stats = (
        read_silver(spark, cfg, day, day)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum((F.col("event_type") == "chunk").cast("long")).alias("chunks"),
            F.max("event_time").alias("latest"),
        )
        .first()
    )
    if not stats["rows"]:
        raise VodlakeError(
            f"silver_playback has no events on {day}",
            hint="is the playback ingest running (vodlake stream playback)? rerun when it is",
        )
    out = {"rows": int(stats["rows"]), "chunks": int(stats["chunks"] or 0)}
    log(
        f"silver {day}: {out['rows']:,} events, {out['chunks']:,} chunk requests, "
        f"latest {stats['latest']}"
    )
    return out


def has_history(spark: SparkSession, cfg: Config, day: date, train_days: int) -> bool:
    first = day - timedelta(days=train_days)
    before = read_silver(spark, cfg, first, day - timedelta(days=1))
    return before.limit(1).count() > 0


def parse_steps(text: str) -> list[str]:
    steps = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise VodlakeError(
            f"unknown step(s) {', '.join(unknown) or text!r}", hint=f"choose from {','.join(STEPS)}"
        )
    return [s for s in STEPS if s in steps]  # always in chain order


def run(
    spark: SparkSession,
    cfg: Config,
    day: date,
    *,
    steps: Sequence[str] = STEPS,
    train_days: int | None = None,
    fractions: Sequence[float] = replay.WORKING_SET_FRACTIONS,
    log: Log = print,
) -> dict[str, Any]:
    """Run the chosen steps for ``day`` in chain order; returns each step's summary."""
    results: dict[str, Any] = {}
    train = train_days or cfg.placement.trend_lookback_days
    for step in STEPS:
        if step not in steps:
            continue
        started = time.monotonic()
        log(f"nightly {day}: {step}")
        if step == "silver":
            results[step] = check_silver(spark, cfg, day, log)
        elif step == "popularity":
            results[step] = popularity.run(spark, cfg, day, log)
        elif step == "placement":
            results[step] = placement.run(spark, cfg, day, log)
        elif step == "edges":
            results[step] = edge_logs.gold_daily(spark, cfg, day, log)
        elif not has_history(spark, cfg, day, train):
            log(f"evaluation skipped: no playback in the {train} days before {day} to train on")
            results[step] = None
        else:
            results[step] = evaluate_placement.run(
                spark,
                cfg,
                day,
                train_days=train,
                fractions=fractions,
                log=log,
            )
        log(f"nightly {day}: {step} done in {time.monotonic() - started:.1f}s")
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The chain's options (shared by `vodlake nightly` and `spark-submit jobs/nightly.py`)."""
    add_date_argument(parser, "the day that just ended (YYYY-MM-DD, today or yesterday UTC)")
    parser.add_argument(
        "--steps",
        type=parse_steps,
        default=list(STEPS),
        metavar="S[,S2...]",
        help=f"run only these steps, in chain order (default {','.join(STEPS)})",
    )
    evaluate_placement.add_arguments(parser)


def run_args(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-nightly")
    run(
        spark,
        cfg,
        args.date,
        steps=args.steps,
        train_days=args.train_days,
        fractions=args.fractions,
    )
    return 0
