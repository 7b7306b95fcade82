"""Evaluate placement against classic caches: train on the days before D, replay day D per edge.

`spark-submit jobs/evaluate_placement.py --date D [--train-days N]` (or `vodlake job
evaluate_placement ...`). The forecast is built from days D-N .. D-1 of silver (the placement
transforms, exactly as the nightly job runs them) and each edge's day-D requests are replayed
through the cache simulator at capacities that are fractions of the catalog's bytes:

* prefill: the edge holds only its manifest (filled the night before, nothing else admitted);
* prefill-lru: manifest pinned, LRU in the space left;
* lru, lfu, fifo, belady: start empty at midnight and admit every miss (Belady knows the future;
  optimal for unit sizes only, not for variable sizes);
* lru-warm, belady-warm: the same after replaying day D-1 first (only day D is counted), which
  shows what a cache that was already running would have done.

Replay runs inside Spark: requests and each edge's placement are co-grouped by edge and each
edge's group goes to `vodlake.cachesim.simulate_frame` in one pandas call. Results go to the
`placement_eval` table (partition date = D replaced) and to a chart and HTML report under
<paths.reports>/placement_eval/<D>/.
"""

from __future__ import annotations

import argparse
import functools
import html
import io as bytes_io
from collections.abc import Callable, Sequence
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
from vodlake.placement import simulator as cachesim
from vodlake.placement.forecast import (
    forecast_popularity,
    read_silver,
    segment_sizes,
)
from vodlake.schemas import PLACEMENT_EVAL
from vodlake.transforms.placement import candidates, plan_placement
from vodlake.transforms.popularity import (
    chunk_requests,
)

Log = Callable[[str], None]

DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2)
PREFILL_POLICIES: tuple[str, ...] = ("prefill", "prefill-lru")
COLD_POLICIES: tuple[str, ...] = ("lru", "lfu", "fifo", "belady")
WARM_POLICIES: tuple[str, ...] = ("lru-warm", "belady-warm")
POLICIES: tuple[str, ...] = PREFILL_POLICIES + COLD_POLICIES + WARM_POLICIES
ALL_EDGES = "ALL"
# The acceptance criterion of the placement work: at this capacity, prefill >= 90% of Belady
# and >= 10 points above LRU (byte hit ratio, all edges together).
ACCEPTANCE_FRACTION = 0.05

_EDGE_DDL = (
    "edge_id string, policy string, capacity_fraction double, capacity_bytes long, "
    "requests long, hits long, hit_ratio double, bytes long, hit_bytes long, "
    "byte_hit_ratio double, manifest_objects long, manifest_bytes long, note string"
)
_EDGE_COLUMNS = [part.split()[0] for part in _EDGE_DDL.split(", ")]


def _result_row(
    edge_id: str,
    fraction: float,
    res: dict[str, Any],
    manifest: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "edge_id": edge_id,
        "policy": res["policy"],
        "capacity_fraction": fraction,
        "capacity_bytes": int(res["capacity"]),
        "requests": int(res["requests"]),
        "hits": int(res["hits"]),
        "hit_ratio": float(res["hit_ratio"]),
        "bytes": int(res["bytes"]),
        "hit_bytes": int(res["hit_bytes"]),
        "byte_hit_ratio": float(res["byte_hit_ratio"]),
        "manifest_objects": None if manifest is None else len(manifest),
        "manifest_bytes": None if manifest is None else int(sum(manifest.values())),
        "note": res.get("note"),
    }


def manifest_prefix(ranking: pd.DataFrame, capacity: int) -> dict[str, int]:
    """The fill of an empty edge of ``capacity`` bytes, from the placement at a larger capacity.

    With nothing on the edge yet, a placement is a prefix of one ranking (score desc, then
    object_id) cut where the running bytes pass the capacity or the fill budget, so the
    placement at a smaller capacity is the prefix of the larger one that fits: one plan per
    edge serves every capacity evaluated.
    """
    ordered = ranking.sort_values(["score", "object_id"], ascending=[False, True], kind="stable")
    sizes = ordered["bytes"].to_numpy(dtype=np.int64)
    keep = np.cumsum(sizes) <= capacity
    return dict(zip(ordered["object_id"][keep], sizes[keep].tolist(), strict=True))


def replay_edge(
    trace: pd.DataFrame,
    ranking: pd.DataFrame,
    *,
    capacities: dict[float, int],
    policies: Sequence[str] = POLICIES,
) -> pd.DataFrame:
    """One edge: replay its test-day requests through every policy at every capacity.

    ``trace``: edge_id, time, object_id, size, is_test (the day before the test day is there
    for the warm variants). ``ranking``: object_id, bytes, score of the edge's placement at the
    largest capacity (see `manifest_prefix`). Plain pandas + cachesim, so it runs inside
    applyInPandas and in a unit test alike.
    """
    if trace.empty or not trace["is_test"].any():
        return pd.DataFrame(columns=_EDGE_COLUMNS)
    edge_id = str(trace["edge_id"].iloc[0])
    # Spark does not keep row order within a group: order by time, ties by object id, so
    # replays are repeatable.
    trace = trace.sort_values(["time", "object_id"], kind="stable").reset_index(drop=True)
    test = trace[trace["is_test"]].reset_index(drop=True)
    fractions = sorted(capacities)
    caps = [capacities[f] for f in fractions]
    rows: list[dict[str, Any]] = []
    for policy in policies:
        if policy in COLD_POLICIES:
            frame = cachesim.simulate_frame(test, policy, caps)
            for fraction, res in zip(fractions, frame.to_dict("records"), strict=True):
                rows.append(_result_row(edge_id, fraction, res))
        elif policy in PREFILL_POLICIES:
            for fraction in fractions:
                fill = manifest_prefix(ranking, capacities[fraction])
                frame = cachesim.simulate_frame(test, policy, capacities[fraction], manifest=fill)
                rows.append(_result_row(edge_id, fraction, frame.iloc[0].to_dict(), fill))
        elif policy in WARM_POLICIES:
            full = cachesim.Trace.from_arrays(trace["time"], trace["object_id"], trace["size"])
            counted = trace["is_test"].to_numpy()
            sizes = full.sizes[counted]
            for fraction in fractions:
                hit = cachesim.replay(full, policy.removesuffix("-warm"), capacities[fraction])
                hit = hit[counted]
                total, hit_bytes = int(sizes.sum()), int(sizes[hit].sum())
                res = {
                    "policy": policy,
                    "capacity": capacities[fraction],
                    "requests": int(counted.sum()),
                    "hits": int(np.count_nonzero(hit)),
                    "hit_ratio": float(np.count_nonzero(hit) / counted.sum()),
                    "bytes": total,
                    "hit_bytes": hit_bytes,
                    "byte_hit_ratio": hit_bytes / total,
                    "note": "after replaying the day before (not counted)",
                }
                rows.append(_result_row(edge_id, fraction, res))
        else:
            raise VodlakeError(f"unknown evaluation policy {policy!r}", hint=", ".join(POLICIES))
    return pd.DataFrame(rows, columns=_EDGE_COLUMNS)


def _replay_group(
    trace: pd.DataFrame, ranking: pd.DataFrame, capacities: dict[float, int]
) -> pd.DataFrame:
    out = replay_edge(trace, ranking, capacities=capacities)
    return out.astype({"manifest_objects": "Int64", "manifest_bytes": "Int64"})


def overall(per_edge: pd.DataFrame) -> pd.DataFrame:
    """Every edge summed per policy and capacity (edge_id ALL): ratios of the sums."""
    sums = (
        per_edge.groupby(["policy", "capacity_fraction", "capacity_bytes"], as_index=False)[
            ["requests", "hits", "bytes", "hit_bytes", "manifest_objects", "manifest_bytes"]
        ]
        .sum(min_count=1)
        .assign(edge_id=ALL_EDGES, note=None)
    )
    sums["hit_ratio"] = sums["hits"] / sums["requests"]
    sums["byte_hit_ratio"] = sums["hit_bytes"] / sums["bytes"]
    return sums[_EDGE_COLUMNS]


@dataclass
class Evaluation:
    test_day: date
    train_start: date
    train_end: date
    catalog_bytes: int
    catalog_source: str
    rows: pd.DataFrame  # per edge and ALL, _EDGE_COLUMNS

    def ratio(self, policy: str, fraction: float, edge_id: str = ALL_EDGES) -> float:
        sel = self.rows[
            (self.rows["policy"] == policy)
            & np.isclose(self.rows["capacity_fraction"], fraction)
            & (self.rows["edge_id"] == edge_id)
        ]
        if sel.empty:
            raise KeyError(f"no result for {policy} at {fraction} on {edge_id}")
        return float(sel["byte_hit_ratio"].iloc[0])

    def acceptance(self, fraction: float = ACCEPTANCE_FRACTION) -> dict[str, Any]:
        """Prefill vs Belady and LRU at ``fraction`` of catalog bytes, all edges together."""
        prefill, belady, lru = (self.ratio(p, fraction) for p in ("prefill", "belady", "lru"))
        out = {
            "fraction": fraction,
            "prefill": prefill,
            "belady": belady,
            "lru": lru,
            "prefill_over_belady": prefill / belady if belady else float("inf"),
            "points_over_lru": 100 * (prefill - lru),
        }
        out["passed"] = out["prefill_over_belady"] >= 0.9 and out["points_over_lru"] >= 10
        return out


def resolve_catalog_bytes(
    spark: SparkSession, cfg: Config, requests: DataFrame, given: int | None
) -> tuple[int, str]:
    """Catalog bytes: as given, else the `segments` table, else the files seen in the window."""
    if given is not None:
        if given < 1:
            raise VodlakeError(f"--catalog-bytes must be positive (got {given})")
        return given, "given"
    sizes = segment_sizes(spark, cfg)
    if sizes is not None:
        total = sizes.agg(F.sum("bytes")).first()[0]
        if total:
            return int(total), "segments table"
    seen = requests.groupBy("object_id").agg(F.max("bytes").alias("b")).agg(F.sum("b")).first()[0]
    if not seen:
        raise VodlakeError("no requests to size the catalog from")
    return int(seen), "files requested in the window (a lower bound of the catalog)"


def evaluate(
    spark: SparkSession,
    cfg: Config,
    test_day: date,
    *,
    train_days: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    catalog_bytes: int | None = None,
    log: Log = print,
) -> Evaluation:
    """Forecast from the train days, place at each capacity, replay the test day per edge."""
    if train_days < 1:
        raise VodlakeError(f"--train-days must be at least 1 (got {train_days})")
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise VodlakeError(
            f"capacity fractions must be within (0, 1] (got {list(fractions)})",
            hint="e.g. --fractions 0.01,0.02,0.05,0.1,0.2",
        )
    train_start, train_end = test_day - timedelta(days=train_days), test_day - timedelta(days=1)
    requests = chunk_requests(read_silver(spark, cfg, train_start, test_day)).persist()
    stats = None
    try:
        per_day = {
            r["event_date"]: r["n"]
            for r in requests.groupBy("event_date").agg(F.count(F.lit(1)).alias("n")).collect()
        }
        if not per_day.get(test_day):
            raise VodlakeError(
                f"silver_playback has no chunk requests on the test day {test_day}",
                hint="pick a date with playback, or run the ingest first",
            )
        if not any(d < test_day for d in per_day):
            raise VodlakeError(
                f"no playback in the {train_days} training days before {test_day}",
                hint="evaluate a later date, or generate/ingest more history",
            )
        catalog, source = resolve_catalog_bytes(spark, cfg, requests, catalog_bytes)
        capacities = {float(f): max(1, round(f * catalog)) for f in sorted(set(fractions))}
        log(
            f"evaluating {test_day}: train {train_start}..{train_end}, catalog {catalog:,} B "
            f"({source}), capacities {', '.join(f'{f:g}' for f in capacities)}"
        )
        pc = cfg.placement
        train = requests.where(F.col("event_date") < F.lit(test_day))
        stats, forecast = forecast_popularity(spark, cfg, train, train_end, train_days)
        test_edges = sorted(
            r["edge_id"]
            for r in requests.where(F.col("event_date") == F.lit(test_day))
            .select("edge_id")
            .distinct()
            .collect()
        )
        budgets = {e.id: e.fill_budget_bytes for e in cfg.topology.edges}
        largest = max(capacities.values())
        edges = spark.createDataFrame(
            [(edge, largest, budgets.get(edge, largest)) for edge in test_edges],
            "edge_id string, capacity_bytes long, fill_budget_bytes long",
        )
        ranking = plan_placement(
            candidates(forecast),
            edges,
            None,
            early_chunk_weight=pc.early_chunk_weight,
            early_chunks=pc.early_chunks,
            min_swap_gain=pc.min_swap_gain,
        ).select("edge_id", "object_id", "bytes", "score")
        trace = requests.where(F.col("event_date") >= F.lit(train_end)).select(
            "edge_id",
            "time",
            "object_id",
            F.col("bytes").alias("size"),
            (F.col("event_date") == F.lit(test_day)).alias("is_test"),
        )
        replay = functools.partial(_replay_group, capacities=capacities)
        per_edge = (
            trace.groupBy("edge_id")
            .cogroup(ranking.groupBy("edge_id"))
            .applyInPandas(replay, _EDGE_DDL)
            .toPandas()
        )
    finally:
        if stats is not None:
            stats.unpersist()
        requests.unpersist()
    rows = pd.concat([per_edge, overall(per_edge)], ignore_index=True)
    order = {p: i for i, p in enumerate(POLICIES)}
    rows = rows.sort_values(
        ["edge_id", "policy", "capacity_fraction"],
        key=lambda s: s.map(order) if s.name == "policy" else s,
    ).reset_index(drop=True)
    return Evaluation(test_day, train_start, train_end, catalog, source, rows)


def write_table(spark: SparkSession, cfg: Config, ev: Evaluation) -> int:
    """Replace the test day's partition of `placement_eval`; returns its row count."""
    rows = ev.rows.assign(
        date=ev.test_day,
        train_start=ev.train_start,
        train_end=ev.train_end,
        catalog_bytes=ev.catalog_bytes,
    )
    fields = PLACEMENT_EVAL.fields
    records = [
        tuple(_plain(v, f.dataType) for v, f in zip(rec, fields, strict=True))
        for rec in rows[[f.name for f in fields]].itertuples(index=False, name=None)
    ]
    df = spark.createDataFrame(records, PLACEMENT_EVAL)
    path = Tables(cfg).replace_date(spark, "placement_eval", df, ev.test_day)
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


def report_dir(cfg: Config, day: date) -> str:
    return f"{cfg.paths.reports.rstrip('/')}/placement_eval/{day}"


_LABELS = {
    "prefill": "prefill (manifest only)",
    "prefill-lru": "prefill + LRU",
    "lru": "LRU (cold)",
    "lfu": "LFU (cold)",
    "fifo": "FIFO (cold)",
    "belady": "Belady (cold)",
    "lru-warm": "LRU (warm)",
    "belady-warm": "Belady (warm)",
}
_STYLE = {
    "prefill": ("tab:red", "-", "o"),
    "prefill-lru": ("tab:orange", "-", "s"),
    "lru": ("tab:blue", "-", "^"),
    "lfu": ("tab:cyan", "-", "v"),
    "fifo": ("tab:gray", "-", "x"),
    "belady": ("black", "-", "D"),
    "lru-warm": ("tab:blue", ":", "^"),
    "belady-warm": ("black", ":", "D"),
}


def chart_figure(ev: Evaluation) -> Any:
    """Byte hit ratio against capacity per policy (all edges), and per edge at the 5% point."""
    import matplotlib

    if not matplotlib.get_backend().lower().startswith(("agg", "module://")):
        matplotlib.use("Agg")  # no display on a cluster node or in a job
    import matplotlib.pyplot as plt

    rows = ev.rows
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    total = rows[rows["edge_id"] == ALL_EDGES]
    for policy in POLICIES:
        part = total[total["policy"] == policy].sort_values("capacity_fraction")
        if part.empty:
            continue
        color, line, marker = _STYLE[policy]
        left.plot(
            100 * part["capacity_fraction"],
            part["byte_hit_ratio"],
            color=color,
            linestyle=line,
            marker=marker,
            # prefill + LRU equals prefill when the manifest fills the edge: keep both visible
            linewidth=4 if policy == "prefill" else 1.5,
            alpha=0.55 if policy == "prefill" else 1.0,
            label=_LABELS[policy],
        )
    left.set_xscale("log")
    fracs = sorted(total["capacity_fraction"].unique())
    left.set_xticks([100 * f for f in fracs], [f"{100 * f:g}%" for f in fracs])
    left.set_xlabel("edge capacity (% of catalog bytes)")
    left.set_ylabel("byte hit ratio")
    left.set_ylim(0, 1)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8, loc="upper left")
    left.set_title(f"All edges, test day {ev.test_day}")

    at = min(fracs, key=lambda f: abs(f - ACCEPTANCE_FRACTION))
    shown = ("prefill", "prefill-lru", "lru", "belady", "belady-warm")
    per_edge = rows[(rows["edge_id"] != ALL_EDGES) & np.isclose(rows["capacity_fraction"], at)]
    edges = sorted(per_edge["edge_id"].unique())
    width = 0.8 / len(shown)
    for i, policy in enumerate(shown):
        part = per_edge[per_edge["policy"] == policy].set_index("edge_id")
        values = [float(part["byte_hit_ratio"].get(e, np.nan)) for e in edges]
        color, line, _ = _STYLE[policy]
        right.bar(
            np.arange(len(edges)) + (i - (len(shown) - 1) / 2) * width,
            values,
            width,
            color=color,
            alpha=0.45 if line == ":" else 0.9,
            label=_LABELS[policy],
        )
    right.set_xticks(np.arange(len(edges)), edges, rotation=20, fontsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("byte hit ratio")
    right.grid(True, axis="y", alpha=0.3)
    right.legend(fontsize=8, ncol=2)
    right.set_title(f"Per edge at {100 * at:g}% of catalog bytes")
    fig.tight_layout()
    return fig


def chart_png(ev: Evaluation) -> bytes:
    """`chart_figure` as PNG bytes."""
    import matplotlib.pyplot as plt

    fig = chart_figure(ev)
    buf = bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


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
        catalog_bytes=int(first["catalog_bytes"]),
        catalog_source="placement_eval table",
        rows=rows[_EDGE_COLUMNS].reset_index(drop=True),
    )


def report_html(ev: Evaluation, chart_name: str) -> str:
    """A small self-describing page: the chart, the acceptance check and the figures."""
    acc = ev.acceptance() if _has(ev, ACCEPTANCE_FRACTION) else None
    total = ev.rows[ev.rows["edge_id"] == ALL_EDGES]
    fracs = sorted(total["capacity_fraction"].unique())
    head = "".join(f"<th>{100 * f:g}%</th>" for f in fracs)
    lines = []
    for policy in POLICIES:
        part = total[total["policy"] == policy].set_index("capacity_fraction")
        if part.empty:
            continue
        cells = "".join(
            f"<td>{part['byte_hit_ratio'].get(f, float('nan')):.3f}</td>" for f in fracs
        )
        lines.append(f"<tr><th>{html.escape(_LABELS[policy])}</th>{cells}</tr>")
    edge_rows = []
    for edge in sorted(set(ev.rows["edge_id"]) - {ALL_EDGES}):
        part = ev.rows[ev.rows["edge_id"] == edge]
        cells = "".join(
            f"<td>{_cell(part, policy, ACCEPTANCE_FRACTION)}</td>" for policy in POLICIES
        )
        requests = int(part["requests"].iloc[0])
        edge_rows.append(f"<tr><th>{html.escape(edge)}</th><td>{requests:,}</td>{cells}</tr>")
    edge_head = "".join(f"<th>{html.escape(p)}</th>" for p in POLICIES)
    verdict = ""
    if acc is not None:
        verdict = (
            f"<p>At {100 * acc['fraction']:g}% of catalog bytes, all edges: prefill "
            f"{acc['prefill']:.3f}, Belady {acc['belady']:.3f}, LRU {acc['lru']:.3f}: prefill is "
            f"{100 * acc['prefill_over_belady']:.1f}% of Belady and "
            f"{acc['points_over_lru']:+.1f} points over LRU "
            f"(<b>{'meets' if acc['passed'] else 'misses'}</b> the target of &ge;90% and "
            "&ge;+10 points).</p>"
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Placement evaluation {ev.test_day}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style></head><body>
<h1>Edge placement evaluation, test day {ev.test_day}</h1>
<p>Forecast trained on {ev.train_start} .. {ev.train_end}; each edge's requests of
{ev.test_day} replayed through the cache simulator. Catalog {ev.catalog_bytes:,} bytes
({html.escape(ev.catalog_source)}). Cold policies start empty at midnight; warm ones replay the
day before first. Belady is optimal for unit sizes only.</p>
{verdict}
<img src="{html.escape(chart_name)}" alt="byte hit ratio against capacity" width="100%">
<h2>Byte hit ratio, all edges</h2>
<table><tr><th>policy</th>{head}</tr>{"".join(lines)}</table>
<h2>Byte hit ratio per edge at {100 * ACCEPTANCE_FRACTION:g}% of catalog bytes</h2>
<table><tr><th>edge</th><th>requests</th>{edge_head}</tr>{"".join(edge_rows)}</table>
</body></html>
"""


def _has(ev: Evaluation, fraction: float) -> bool:
    return bool(np.isclose(ev.rows["capacity_fraction"], fraction).any())


def _cell(part: pd.DataFrame, policy: str, fraction: float) -> str:
    sel = part[(part["policy"] == policy) & np.isclose(part["capacity_fraction"], fraction)]
    return "" if sel.empty else f"{float(sel['byte_hit_ratio'].iloc[0]):.3f}"


def write_report(spark: SparkSession, cfg: Config, ev: Evaluation) -> dict[str, str]:
    """Write the chart PNG and the HTML page; returns their URIs."""
    folder = report_dir(cfg, ev.test_day)
    chart = "hit_ratio.png"
    files = fs.replace_folder(
        spark,
        folder,
        {chart: chart_png(ev), "index.html": report_html(ev, chart).encode("utf-8")},
    )
    return {"chart": files[0], "html": files[1]}


def run(
    spark: SparkSession,
    cfg: Config,
    test_day: date,
    *,
    train_days: int | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    catalog_bytes: int | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Evaluate, write the table and the report, log the headline figures."""
    ev = evaluate(
        spark,
        cfg,
        test_day,
        train_days=train_days or cfg.placement.trend_lookback_days,
        fractions=fractions,
        catalog_bytes=catalog_bytes,
        log=log,
    )
    written = write_table(spark, cfg, ev)
    files = write_report(spark, cfg, ev)
    total = ev.rows[ev.rows["edge_id"] == ALL_EDGES]
    for fraction in sorted(total["capacity_fraction"].unique()):
        part = total[np.isclose(total["capacity_fraction"], fraction)].set_index("policy")
        figures = ", ".join(
            f"{p} {part['byte_hit_ratio'][p]:.3f}" for p in POLICIES if p in part.index
        )
        log(f"  {100 * fraction:g}% of catalog: {figures}")
    out: dict[str, Any] = {"rows": written, **files, "evaluation": ev}
    if _has(ev, ACCEPTANCE_FRACTION):
        acc = ev.acceptance()
        out["acceptance"] = acc
        log(
            f"  at {100 * ACCEPTANCE_FRACTION:g}%: prefill = "
            f"{100 * acc['prefill_over_belady']:.1f}% of Belady, "
            f"{acc['points_over_lru']:+.1f} points over LRU "
            f"({'meets' if acc['passed'] else 'misses'} >= 90% and >= +10)"
        )
    log(f"placement_eval {test_day}: {written} rows; report {files['html']}")
    return out


def parse_fractions(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise VodlakeError(
            f"--fractions {text!r} is not a list of numbers", hint="e.g. 0.01,0.05,0.2"
        ) from None
    return values


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
        default=list(DEFAULT_FRACTIONS),
        metavar="F[,F2...]",
        help="edge capacities as fractions of catalog bytes (default 0.01,0.02,0.05,0.1,0.2)",
    )
    parser.add_argument(
        "--catalog-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="catalog size (default: the segments table, else the files seen in silver)",
    )
