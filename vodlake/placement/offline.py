"""Judge the nightly prefill on any request log: train on K days, place, replay the next day(s).

`vodlake placement evaluate --trace FILE --train-days K --capacity C[,C2]` runs this. FILE is
CSV or Parquet with columns time (seconds), object_id, size and optionally edge; day =
floor(time / 86400). For each test day and edge: forecast from the K days before it
(`vodlake.placement.model`), place at each capacity starting from the previous test day's
placement (so the fill budget and the swap margin bind), tune the prefill + LRU share on the
last training day, and replay through `vodlake.placement.replay` against the clairvoyant
static fill, the compulsory-miss ceiling and LRU / Belady warmed on the day before.

No Spark: pandas and the numba simulator, so an operator can run it on a laptop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vodlake.errors import VodlakeError
from vodlake.placement import model, replay
from vodlake.placement import simulator as cachesim

DAY_S = 86_400
SINGLE_EDGE = "edge"
HYBRID_SHARES: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
Log = Callable[[str], None]


@dataclass(frozen=True)
class CapacitySpec:
    """A capacity as given: a share of each edge's test-day working set, or bytes."""

    text: str
    fraction: float | None = None
    bytes: int | None = None

    def resolve(self, working_set: int) -> replay.Capacity:
        if self.fraction is not None:
            label = replay.fraction_label(self.fraction)
            return replay.Capacity(label, max(1, round(self.fraction * working_set)), self.fraction)
        assert self.bytes is not None
        return replay.Capacity(self.text, self.bytes, self.bytes / working_set)


def parse_capacity_list(text: str) -> list[CapacitySpec]:
    """``5%,20%,2GB``: shares of each edge's test-day working set and/or sizes in bytes."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise VodlakeError(f"capacity list {text!r} has an empty entry", hint="e.g. 5%,2GB")
        if part.endswith("%"):
            try:
                value = float(part[:-1]) / 100
            except ValueError:
                raise VodlakeError(
                    f"capacity {part!r} is not a percentage", hint="e.g. 5%"
                ) from None
            if not 0 < value <= 1:
                raise VodlakeError(f"capacity {part!r} must be within (0%, 100%]", hint="e.g. 5%")
            out.append(CapacitySpec(part, fraction=value))
        else:
            out.append(CapacitySpec(part, bytes=cachesim.parse_capacity(part)))
    return out


def read_requests(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV or Parquet request log -> time, day, edge_id, object_id, size (sorted by time)."""
    p = Path(path)
    if not p.is_file():
        raise VodlakeError(f"trace {p} not found", hint="pass a CSV or Parquet request log")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, dtype={"object_id": str, "edge": str})
    except Exception as exc:  # pandas/pyarrow raise many kinds for a bad file
        raise VodlakeError(
            f"trace {p} cannot be read ({type(exc).__name__}: {str(exc).strip()[:200]})",
            hint="CSV with header time,object_id,size[,edge], or Parquet with those columns",
        ) from exc
    missing = [c for c in ("time", "object_id", "size") if c not in df.columns]
    if missing:
        raise VodlakeError(
            f"trace {p} lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, df.columns))})",
            hint="columns time,object_id,size and optionally edge",
        )
    return normalize(df, source=str(p))


def normalize(df: pd.DataFrame, source: str = "trace") -> pd.DataFrame:
    """Check and type the columns; a bad row is an error naming it, nothing is skipped."""
    if df.empty:
        raise VodlakeError(f"{source} has no requests", hint="replay at least one request")
    time = pd.to_numeric(df["time"], errors="coerce")
    size = pd.to_numeric(df["size"], errors="coerce")
    for name, values in (("time", time), ("size", size)):
        bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(float)))
        if bad.size:
            raise VodlakeError(
                f"{source} row {int(bad[0]) + 1}: {name} {df[name].iloc[bad[0]]!r} is not a number",
                hint=f"{name} must be a number on every row",
            )
    bad = np.flatnonzero((size < 1).to_numpy() | (size != np.floor(size)).to_numpy())
    if bad.size:
        raise VodlakeError(
            f"{source} row {int(bad[0]) + 1}: size {df['size'].iloc[bad[0]]!r} is not a whole "
            "number of bytes >= 1",
            hint="size is the object's bytes",
        )
    ids = df["object_id"].astype(str).str.strip()
    empty = np.flatnonzero((ids == "").to_numpy() | df["object_id"].isna().to_numpy())
    if empty.size:
        raise VodlakeError(f"{source} row {int(empty[0]) + 1}: object_id is empty")
    edge = (
        df["edge"].astype(str).str.strip()
        if "edge" in df.columns
        else pd.Series(SINGLE_EDGE, index=df.index)
    )
    out = pd.DataFrame(
        {
            "time": time.astype(float),
            "day": np.floor(time.to_numpy(float) / DAY_S).astype(np.int64),
            "edge_id": edge,
            "object_id": ids,
            "size": size.astype(np.int64),
        }
    )
    return out.sort_values(["time", "object_id"], kind="stable").reset_index(drop=True)


@dataclass
class TraceEvaluation:
    """Rows per test day, edge and capacity (replay.ROW_COLUMNS + test_day) and the verdicts."""

    rows: pd.DataFrame
    verdicts: pd.DataFrame
    train_days: int
    test_days: list[int]
    hybrid_shares: dict[tuple[str, str], float] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready object per test day, edge and capacity (edge ALL = summed)."""
        out = []
        for rec in self.verdicts.to_dict("records"):
            item = {
                "day": int(rec["test_day"]),
                "edge": rec["edge_id"],
                "capacity": rec["capacity_label"],
                "capacity_bytes": int(rec["capacity_bytes"]),
                "working_set_bytes": int(rec["working_set_bytes"]),
            }
            for policy, key in (
                (replay.PREFILL, "prefill"),
                (replay.HYBRID, "prefill_lru"),
                (replay.CLAIRVOYANT, "clairvoyant_static"),
                (replay.CEILING, "compulsory_ceiling"),
                (replay.LRU_WARM, "lru_warm"),
                (replay.BELADY_WARM, "belady_warm"),
            ):
                item[key] = _num(rec.get(policy))
            item["prefill_fraction_of_bound"] = _num(rec.get("prefill_fraction_of_bound"))
            item["points_over_lru_warm"] = _num(rec.get("points_over_lru_warm"))
            item["hybrid_share"] = self.hybrid_shares.get((rec["edge_id"], rec["capacity_label"]))
            out.append(item)
        return out


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), 6)


def evaluate_requests(
    requests: pd.DataFrame,
    *,
    train_days: int,
    capacities: Sequence[CapacitySpec],
    test_days: int = 1,
    regions: Mapping[str, str] | None = None,
    catalog: model.Catalog | None = None,
    configured: Mapping[str, int] | None = None,
    fill_budget: Mapping[str, int] | float | None = None,
    min_swap_gain: float = 0.05,
    params: model.ForecastParams | None = None,
    tune_hybrid: bool = True,
    log: Log | None = None,
) -> TraceEvaluation:
    """Train on the first ``train_days`` days of ``requests``, evaluate the next ``test_days``.

    ``configured``: edge -> its configured capacity_bytes (added as capacity "configured").
    ``fill_budget``: edge -> bytes a night may fill, or a float = that share of the capacity.
    """
    if train_days < 1:
        raise VodlakeError(f"--train-days must be at least 1 (got {train_days})")
    if test_days < 1:
        raise VodlakeError(f"--test-days must be at least 1 (got {test_days})")
    days = sorted(requests["day"].unique())
    first = int(days[0])
    wanted = [first + train_days + i for i in range(test_days)]
    have = set(int(d) for d in days)
    missing = [d for d in wanted if d not in have]
    if missing:
        raise VodlakeError(
            f"the trace spans days {first}..{int(days[-1])} ({len(days)} with requests); "
            f"test day {missing[0]} (= first day + {missing[0] - first}) has no requests",
            hint="lower --train-days/--test-days or pass a longer trace",
        )
    params = params or model.ForecastParams(lookback_days=train_days)
    all_rows, previous = [], {}
    shares: dict[tuple[str, str], float] = {}
    for n, day in enumerate(wanted):
        rows, previous, day_shares = _evaluate_day(
            requests,
            day,
            first,
            capacities,
            regions=regions or {},
            catalog=catalog,
            configured=configured or {},
            fill_budget=fill_budget,
            min_swap_gain=min_swap_gain,
            params=params,
            previous=previous if n else None,
            tune_hybrid=tune_hybrid,
        )
        shares.update(day_shares)
        all_rows.append(rows.assign(test_day=day))
        if log:
            log(f"day {day}: {rows['edge_id'].nunique()} edges replayed")
    rows = pd.concat(all_rows, ignore_index=True)
    summed = [
        replay.totals(part.drop(columns="test_day")).assign(test_day=d)
        for d, part in rows.groupby("test_day")
    ]
    rows = pd.concat([rows, *summed], ignore_index=True)
    verdicts = pd.concat(
        [replay.verdicts(part).assign(test_day=d) for d, part in rows.groupby("test_day")],
        ignore_index=True,
    )
    sizes = rows[rows["policy"] == replay.CEILING][
        ["test_day", "edge_id", "capacity_label", "capacity_bytes", "working_set_bytes"]
    ]
    verdicts = verdicts.merge(sizes, on=["test_day", "edge_id", "capacity_label"], how="left")
    return TraceEvaluation(rows, verdicts, train_days, wanted, shares)


def _evaluate_day(
    requests: pd.DataFrame,
    day: int,
    first: int,
    capacities: Sequence[CapacitySpec],
    *,
    regions: Mapping[str, str],
    catalog: model.Catalog | None,
    configured: Mapping[str, int],
    fill_budget: Mapping[str, int] | float | None,
    min_swap_gain: float,
    params: model.ForecastParams,
    previous: Mapping[tuple[str, str], Mapping[str, int]] | None,
    tune_hybrid: bool,
) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, int]], dict[tuple[str, str], float]]:
    train = requests[(requests["day"] < day) & (requests["day"] >= day - params.lookback_days)]
    fc = model.forecast(train, day, regions=regions, catalog=catalog, params=params)
    by_edge = dict(tuple(fc.groupby("edge_id", sort=False)))
    validation = (
        _validation_forecast(requests, day, first, regions, catalog, params)
        if tune_hybrid
        else None
    )
    placed: dict[tuple[str, str], dict[str, int]] = {}
    shares: dict[tuple[str, str], float] = {}
    out = []
    window = requests[(requests["day"] >= day - 1) & (requests["day"] <= day)]
    for edge, trace in window.groupby("edge_id", sort=True):
        trace = trace.assign(is_test=trace["day"] == day)
        test = trace[trace["is_test"]]
        if test.empty:
            continue
        ws = replay.working_set_bytes(test)
        caps = [c.resolve(ws) for c in capacities]
        if edge in configured:
            caps.append(replay.Capacity(replay.CONFIGURED, configured[edge], configured[edge] / ws))
        edge_fc = by_edge.get(edge, fc.iloc[0:0])
        manifests, hybrid = {}, {}
        for cap in caps:
            # The first test day starts from a full edge; later ones from the day before's fill,
            # so the fill budget and the swap margin bind from the second day on.
            prev = None if previous is None else previous.get((edge, cap.label), {})
            budget = None if prev is None else _budget(fill_budget, edge, cap.bytes)
            fill = model.place(
                edge_fc, cap.bytes, previous=prev, min_swap_gain=min_swap_gain, fill_budget=budget
            )
            manifests[cap.label] = fill
            placed[(edge, cap.label)] = fill
            share = 1.0
            if validation is not None and edge in validation[0]:
                share = _tune_share(validation, edge, cap.bytes)
            shares[(edge, cap.label)] = share
            hybrid[cap.label] = (model.cut(fill, int(share * cap.bytes)), share)
        out.append(replay.replay_edge(trace, caps, manifests, hybrid))
    rows = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=replay.ROW_COLUMNS)
    return rows, placed, shares


def _budget(fill_budget: Mapping[str, int] | float | None, edge: str, capacity: int) -> int | None:
    if fill_budget is None:
        return None
    if isinstance(fill_budget, (int, float)):
        return int(fill_budget * capacity)
    return fill_budget.get(edge)


def _validation_forecast(
    requests: pd.DataFrame,
    day: int,
    first: int,
    regions: Mapping[str, str],
    catalog: model.Catalog | None,
    params: model.ForecastParams,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]] | None:
    """The last training day forecast from the days before it, for tuning the hybrid share."""
    val = day - 1
    if val - 1 < first:
        return None  # tuning needs a day to forecast from and one to warm LRU on
    train = requests[(requests["day"] < val) & (requests["day"] >= val - params.lookback_days)]
    fc = model.forecast(train, val, regions=regions, catalog=catalog, params=params)
    window = requests[(requests["day"] >= val - 1) & (requests["day"] <= val)]
    traces = {
        e: replay.ordered(t.assign(is_test=t["day"] == val)) for e, t in window.groupby("edge_id")
    }
    return dict(tuple(fc.groupby("edge_id", sort=False))), traces


def _tune_share(
    validation: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]], edge: str, capacity: int
) -> float:
    """The manifest share of capacity that served most bytes on the validation day."""
    forecasts, traces = validation
    trace = traces.get(edge)
    if trace is None or not trace["is_test"].any():
        return 1.0
    full = cachesim.Trace.from_arrays(trace["time"], trace["object_id"], trace["size"])
    counted = trace["is_test"].to_numpy()
    sizes = full.sizes[counted]
    fill = model.place(forecasts[edge], capacity)
    best, best_share = -1, 1.0
    for share in HYBRID_SHARES:
        pinned = model.cut(fill, int(share * capacity))
        hit = cachesim.replay(full, "prefill-lru", capacity, manifest=pinned)[counted]
        served = int(sizes[hit].sum())
        if served > best:
            best, best_share = served, share
    return best_share


def format_table(ev: TraceEvaluation) -> str:
    """Aligned text: per test day, edge and capacity the byte hit ratios and the verdicts."""
    cols = [
        ("day", "test_day", "{}"),
        ("edge", "edge_id", "{}"),
        ("capacity", "capacity_label", "{}"),
        ("bytes", "capacity_bytes", "{:,}"),
        ("prefill", replay.PREFILL, "{:.3f}"),
        ("prefill+lru", replay.HYBRID, "{:.3f}"),
        ("clairvoyant", replay.CLAIRVOYANT, "{:.3f}"),
        ("ceiling", replay.CEILING, "{:.3f}"),
        ("lru-warm", replay.LRU_WARM, "{:.3f}"),
        ("belady-warm", replay.BELADY_WARM, "{:.3f}"),
        ("of bound", "prefill_fraction_of_bound", "{:.1%}"),
        ("pts/LRU", "points_over_lru_warm", "{:+.1f}"),
    ]
    table = [[name for name, _, _ in cols]]
    for rec in ev.verdicts.to_dict("records"):
        table.append(
            [
                "" if rec.get(key) is None or rec.get(key) != rec.get(key) else fmt.format(rec[key])
                for _, key, fmt in cols
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    lines.append(
        "byte hit ratios; clairvoyant = best static fill chosen with the test day known (the bound "
        "for a nightly prefill); ceiling = 1 - distinct/requested bytes; LRU and Belady (with "
        "bypass) warmed on the day before"
    )
    return "\n".join(lines) + "\n"
