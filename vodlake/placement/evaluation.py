"""Judge the nightly prefill on a test day: the forecast from the days before, replayed per edge.

`spark-submit jobs/evaluate_placement.py --date D [--train-days N]` (or the nightly chain's
evaluate step). Steps, each a function of its own:

1. `read_requests`: days D-N .. D of silver as chunk requests;
2. `plan_ranking`: the nightly forecast (`forecast_popularity`, exactly as the nightly job
   builds gold) and the placement (`plan_placement`) of each edge at its largest capacity;
3. `replay_edges`: per edge, in applyInPandas, `vodlake.placement.replay.replay_edge` at
   shares of the edge's test-day working set and at its configured capacity_bytes: the prefill
   (a prefix of the ranking, which is what a fill of an empty edge stores), the clairvoyant
   static fill (the bound), the compulsory-miss ceiling, LRU and Belady warmed on day D-1;
4. `write_table`, then `vodlake.placement.chart` and `vodlake.placement.report` for the page.

The prefill is reported as a fraction of the bound and in points over warm LRU; no cold cache
and no "share of Belady" appears (a cold cache loses the day's distinct bytes by construction).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, LongType, StringType

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake import fs
from vodlake.lake.tables import Tables
from vodlake.placement import replay
from vodlake.placement.forecast import forecast_popularity, read_silver
from vodlake.schemas import PLACEMENT_EVAL
from vodlake.transforms.placement import candidates, plan_placement, split_over_sites
from vodlake.transforms.popularity import chunk_requests

Log = Callable[[str], None]
ALL_EDGES = "ALL"
HEADLINE = replay.CONFIGURED


def manifest_prefix(ranking: pd.DataFrame, capacity: int) -> dict[str, int]:
    """The fill of an empty edge of ``capacity`` bytes, from the placement at a larger capacity.

    With nothing on the edge yet, a placement is a prefix of one ranking (score desc, then
    object_id) cut where the running bytes pass the capacity, so one plan per edge at its
    largest capacity serves every smaller one.
    """
    ordered = ranking.sort_values(["score", "object_id"], ascending=[False, True], kind="stable")
    sizes = ordered["bytes"].to_numpy(dtype=np.int64)
    keep = np.cumsum(sizes) <= capacity
    return dict(zip(ordered["object_id"][keep], sizes[keep].tolist(), strict=True))


def replay_group(
    trace: pd.DataFrame,
    ranking: pd.DataFrame,
    *,
    fractions: Sequence[float],
    configured: Mapping[str, int],
) -> pd.DataFrame:
    """One edge's cogroup: capacities from its working set, prefixes of its ranking, replay."""
    if trace.empty or not trace["is_test"].any():
        return pd.DataFrame(columns=list(replay.ROW_COLUMNS))
    edge = str(trace["edge_id"].iloc[0])
    test = trace[trace["is_test"]]
    caps = replay.capacities_for(
        replay.working_set_bytes(test.astype({"object_id": str})), fractions, configured.get(edge)
    )
    manifests = {c.label: manifest_prefix(ranking, c.bytes) for c in caps}
    out = replay.replay_edge(trace, caps, manifests)
    return out.astype({"manifest_objects": "Int64", "manifest_bytes": "Int64"})


@dataclass
class Evaluation:
    test_day: date
    train_start: date
    train_end: date
    rows: pd.DataFrame  # per edge and ALL, replay.ROW_COLUMNS

    def ratio(self, policy: str, label: str = HEADLINE, edge_id: str = ALL_EDGES) -> float:
        sel = self.rows[
            (self.rows["policy"] == policy)
            & (self.rows["capacity_label"] == label)
            & (self.rows["edge_id"] == edge_id)
        ]
        if sel.empty:
            raise KeyError(f"no result for {policy} at {label} on {edge_id}")
        return float(sel["byte_hit_ratio"].iloc[0])

    def verdicts(self) -> pd.DataFrame:
        """Per edge and capacity: the ratios, prefill's fraction of the bound, points over LRU."""
        return replay.verdicts(self.rows)

    def headline(self, label: str = HEADLINE) -> dict[str, Any]:
        """All edges at ``label``: prefill against its bound and against warm LRU."""
        v = self.verdicts()
        row = v[(v["edge_id"] == ALL_EDGES) & (v["capacity_label"] == label)]
        if row.empty:
            raise KeyError(f"no capacity {label!r} evaluated")
        rec = row.iloc[0]
        return {
            "capacity": label,
            "prefill": float(rec[replay.PREFILL]),
            "clairvoyant_static": float(rec[replay.CLAIRVOYANT]),
            "lru_warm": float(rec[replay.LRU_WARM]),
            "belady_warm": float(rec[replay.BELADY_WARM]),
            "compulsory_ceiling": float(rec[replay.CEILING]),
            "prefill_fraction_of_bound": float(rec["prefill_fraction_of_bound"]),
            "points_over_lru_warm": float(rec["points_over_lru_warm"]),
        }


def read_requests(
    spark: SparkSession, cfg: Config, test_day: date, train_days: int
) -> tuple[DataFrame, date, date]:
    """Chunk requests of the train days and the test day (persisted; the caller unpersists)."""
    if train_days < 1:
        raise VodlakeError(f"--train-days must be at least 1 (got {train_days})")
    train_start, train_end = test_day - timedelta(days=train_days), test_day - timedelta(days=1)
    requests = chunk_requests(read_silver(spark, cfg, train_start, test_day)).persist()
    per_day = {
        r["event_date"]: r["n"]
        for r in requests.groupBy("event_date").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    if not per_day.get(test_day):
        requests.unpersist()
        raise VodlakeError(
            f"silver_playback has no chunk requests on the test day {test_day}",
            hint="pick a date with playback, or run the ingest first",
        )
    if not any(d < test_day for d in per_day):
        requests.unpersist()
        raise VodlakeError(
            f"no playback in the {train_days} training days before {test_day}",
            hint="evaluate a later date, or generate/ingest more history",
        )
    return requests, train_start, train_end


def plan_ranking(
    spark: SparkSession,
    cfg: Config,
    requests: DataFrame,
    test_day: date,
    train_days: int,
    fractions: Sequence[float],
) -> tuple[DataFrame, DataFrame]:
    """(stats to unpersist, each edge's placement at its largest evaluated capacity)."""
    pc = cfg.placement
    train_end = test_day - timedelta(days=1)
    train = requests.where(F.col("event_date") < F.lit(test_day))
    stats, forecast = forecast_popularity(spark, cfg, train, train_end, train_days)
    working = (
        requests.where(F.col("event_date") == F.lit(test_day))
        .groupBy("edge_id", "object_id")
        .agg(F.max("bytes").alias("b"))
        .groupBy("edge_id")
        .agg(F.sum("b").alias("ws"))
        .collect()
    )
    configured = {e.id: e for e in cfg.topology.edges}
    largest = max(fractions)
    rows = []
    for r in sorted(working, key=lambda r: r["edge_id"]):
        edge = configured.get(r["edge_id"])
        cap = max(round(largest * r["ws"]), edge.capacity_bytes if edge else 0)
        # an empty edge's fill: no budget bind. A site is planned as the nightly plans it
        # (split by steering's hash); an edge missing from the topology is a site of its own.
        isp = edge.isp if edge else f"edge:{r['edge_id']}"
        rows.append((r["edge_id"], int(cap), int(cap), isp))
    edges = spark.createDataFrame(
        rows, "edge_id string, capacity_bytes long, fill_budget_bytes long, isp string"
    )
    ranking = plan_placement(
        candidates(forecast).transform(split_over_sites, edges),
        edges,
        None,
        early_chunk_weight=pc.early_chunk_weight,
        early_chunks=pc.early_chunks,
        min_swap_gain=pc.min_swap_gain,
    ).select("edge_id", "object_id", "bytes", "score")
    return stats, ranking


def replay_edges(
    requests: DataFrame,
    ranking: DataFrame,
    cfg: Config,
    test_day: date,
    fractions: Sequence[float],
) -> pd.DataFrame:
    """Every edge's test day (and the day before, to warm the baselines) through `replay`."""
    trace = requests.where(F.col("event_date") >= F.lit(test_day - timedelta(days=1))).select(
        "edge_id",
        "time",
        "object_id",
        F.col("bytes").alias("size"),
        (F.col("event_date") == F.lit(test_day)).alias("is_test"),
    )
    fn = functools.partial(
        replay_group,
        fractions=tuple(fractions),
        configured={e.id: e.capacity_bytes for e in cfg.topology.edges},
    )
    return (
        trace.groupBy("edge_id")
        .cogroup(ranking.groupBy("edge_id"))
        .applyInPandas(fn, replay.ROW_DDL)
        .toPandas()
    )


def evaluate(
    spark: SparkSession,
    cfg: Config,
    test_day: date,
    *,
    train_days: int,
    fractions: Sequence[float] = replay.WORKING_SET_FRACTIONS,
    log: Log = print,
) -> Evaluation:
    """Forecast from the train days, place, replay the test day per edge (steps 1-3)."""
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise VodlakeError(
            f"capacity fractions must be within (0, 1] (got {list(fractions)})",
            hint="shares of each edge's test-day working set, e.g. --fractions 0.01,0.05,0.2",
        )
    requests, train_start, train_end = read_requests(spark, cfg, test_day, train_days)
    stats = None
    try:
        log(
            f"evaluating {test_day}: train {train_start}..{train_end}; capacities "
            f"{', '.join(f'{100 * f:g}%' for f in fractions)} of each edge's working set "
            "and its configured capacity_bytes"
        )
        stats, ranking = plan_ranking(spark, cfg, requests, test_day, train_days, fractions)
        per_edge = replay_edges(requests, ranking, cfg, test_day, fractions)
    finally:
        if stats is not None:
            stats.unpersist()
        requests.unpersist()
    rows = pd.concat([per_edge, replay.totals(per_edge, ALL_EDGES)], ignore_index=True)
    order = {p: i for i, p in enumerate(replay.POLICIES)}
    rows = rows.sort_values(
        ["edge_id", "policy", "capacity_fraction"],
        key=lambda s: s.map(order) if s.name == "policy" else s,
        kind="stable",
    ).reset_index(drop=True)
    return Evaluation(test_day, train_start, train_end, rows)


def write_table(spark: SparkSession, cfg: Config, ev: Evaluation) -> int:
    """Replace the test day's partition of `placement_eval`; returns its row count."""
    rows = ev.rows.assign(date=ev.test_day, train_start=ev.train_start, train_end=ev.train_end)
    fields = PLACEMENT_EVAL.fields
    records = [
        tuple(_plain(v, f.dataType) for v, f in zip(rec, fields, strict=True))
        for rec in rows[[f.name for f in fields]].itertuples(index=False, name=None)
    ]
    df = spark.createDataFrame(records, PLACEMENT_EVAL)
    tables = Tables(cfg)
    if tables.exists(spark, "placement_eval"):
        old = set(tables.read(spark, "placement_eval").columns) - set(df.columns)
        if old:
            raise VodlakeError(
                f"placement_eval at {tables.path('placement_eval')} has columns of an older "
                f"evaluation ({', '.join(sorted(old))}: capacity as a share of the catalog)",
                hint="it holds only evaluation results: move it away and rerun the evaluation",
            )
    path = tables.replace_date(spark, "placement_eval", df, ev.test_day)
    return fs.last_write_rows(spark, path)


def _plain(value: Any, dtype: DataType) -> Any:
    """numpy/pandas scalars -> the Python types createDataFrame's schema check accepts."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(dtype, LongType):
        return int(value)
    if isinstance(dtype, DoubleType):
        return float(value)
    if isinstance(dtype, StringType):
        return str(value)
    return value


def evaluation_from_table(rows: pd.DataFrame) -> Evaluation:
    """Rebuild an Evaluation from one date's `placement_eval` rows (e.g. in a notebook)."""
    dates = rows["date"].unique()
    if len(dates) != 1:
        raise VodlakeError(f"expected the rows of one date, got {len(dates)} dates")
    first = rows.iloc[0]
    return Evaluation(
        test_day=first["date"],
        train_start=first["train_start"],
        train_end=first["train_end"],
        rows=rows[list(replay.ROW_COLUMNS)].reset_index(drop=True),
    )


def report_dir(cfg: Config, day: date) -> str:
    return f"{cfg.paths.reports.rstrip('/')}/placement_eval/{day}"


def write_report(spark: SparkSession, cfg: Config, ev: Evaluation) -> dict[str, str]:
    """Write the chart PNG and the HTML page; returns their URIs."""
    from vodlake.placement import chart, report

    name = "hit_ratio.png"
    files = fs.replace_folder(
        spark,
        report_dir(cfg, ev.test_day),
        {name: chart.png(ev), "index.html": report.html(ev, name).encode("utf-8")},
    )
    return {"chart": files[0], "html": files[1]}


def run(
    spark: SparkSession,
    cfg: Config,
    test_day: date,
    *,
    train_days: int | None = None,
    fractions: Sequence[float] = replay.WORKING_SET_FRACTIONS,
    log: Log = print,
) -> dict[str, Any]:
    """Evaluate, write the table and the report, log the headline figures."""
    ev = evaluate(
        spark,
        cfg,
        test_day,
        train_days=train_days or cfg.placement.trend_lookback_days,
        fractions=fractions,
        log=log,
    )
    written = write_table(spark, cfg, ev)
    files = write_report(spark, cfg, ev)
    verdicts = ev.verdicts()
    for rec in verdicts[verdicts["edge_id"] == ALL_EDGES].to_dict("records"):
        log(
            f"  {rec['capacity_label']}: prefill {rec[replay.PREFILL]:.3f} = "
            f"{rec['prefill_fraction_of_bound']:.1%} of the clairvoyant static fill "
            f"{rec[replay.CLAIRVOYANT]:.3f}; {rec['points_over_lru_warm']:+.1f} pts over warm LRU "
            f"{rec[replay.LRU_WARM]:.3f}; warm Belady {rec[replay.BELADY_WARM]:.3f}"
        )
    out: dict[str, Any] = {"rows": written, **files, "evaluation": ev}
    if (ev.rows["capacity_label"] == HEADLINE).any():
        out["headline"] = ev.headline()
    log(f"placement_eval {test_day}: {written} rows; report {files['html']}")
    return out


def parse_fractions(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise VodlakeError(
            f"--fractions {text!r} is not a list of numbers", hint="e.g. 0.01,0.05,0.2"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--train-days",
        type=int,
        default=None,
        metavar="N",
        help="days before the test day to train on (default placement.trend_lookback_days)",
    )
    parser.add_argument(
        "--fractions",
        type=parse_fractions,
        default=list(replay.WORKING_SET_FRACTIONS),
        metavar="F[,F2...]",
        help="capacities as shares of each edge's test-day working set (distinct bytes); the "
        "edge's configured capacity_bytes is always evaluated too (default "
        "0.01,0.02,0.05,0.1,0.2,0.5)",
    )
