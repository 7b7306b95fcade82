"""Replay one edge's test day against the bounds and baselines a nightly prefill is judged by.

Why these and no others: a prefill is a static set chosen the night before, so its honest upper
bound is the best static set for that day chosen with hindsight (`clairvoyant_static`); no cache
at all can beat the compulsory-miss ceiling (every object's first request of the day misses when
the cache starts without it); and the dynamic baselines a real edge could run instead, LRU and
Belady, are warmed on the day before so they do not start empty at midnight (a cold cache loses
the day's distinct bytes by construction, which once made a prefill "beat" Belady).

Plain pandas + the numba simulator, so the Spark evaluation (inside applyInPandas) and
`vodlake placement evaluate` on any request log run the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vodlake.errors import VodlakeError
from vodlake.placement import simulator as cachesim

# Capacities: fractions of each edge's test-day working set (its distinct bytes), never of the
# catalog (a catalog share is most of a small edge's working set but little of a large one's).
WORKING_SET_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
CONFIGURED = "configured"

PREFILL = "prefill"
HYBRID = "prefill-lru"
CLAIRVOYANT = "clairvoyant-static"
CEILING = "compulsory-ceiling"
LRU_WARM = "lru-warm"
BELADY_WARM = "belady-warm"
POLICIES: tuple[str, ...] = (PREFILL, HYBRID, CLAIRVOYANT, CEILING, LRU_WARM, BELADY_WARM)
LABELS: dict[str, str] = {
    PREFILL: "prefill (nightly manifest only)",
    HYBRID: "prefill + LRU (tuned share)",
    CLAIRVOYANT: "clairvoyant static fill (bound)",
    CEILING: "compulsory-miss ceiling",
    LRU_WARM: "LRU, warmed on the day before",
    BELADY_WARM: "Belady with bypass, warmed on the day before",
}

ROW_COLUMNS: tuple[str, ...] = (
    "edge_id",
    "policy",
    "capacity_label",
    "capacity_fraction",
    "capacity_bytes",
    "working_set_bytes",
    "requests",
    "hits",
    "hit_ratio",
    "bytes",
    "hit_bytes",
    "byte_hit_ratio",
    "manifest_objects",
    "manifest_bytes",
    "note",
)
ROW_DDL = (
    "edge_id string, policy string, capacity_label string, capacity_fraction double, "
    "capacity_bytes long, working_set_bytes long, requests long, hits long, hit_ratio double, "
    "bytes long, hit_bytes long, byte_hit_ratio double, manifest_objects long, "
    "manifest_bytes long, note string"
)


@dataclass(frozen=True)
class Capacity:
    """One capacity to evaluate on one edge: a label, its bytes and its share of the working set."""

    label: str
    bytes: int
    fraction: float


def fraction_label(fraction: float) -> str:
    return f"{100 * fraction:g}% of working set"


def object_sizes(test: pd.DataFrame) -> pd.Series:
    """object_id -> bytes it takes on disk: its size on its first request of the day."""
    return test.groupby("object_id", sort=False)["size"].first()


def working_set_bytes(test: pd.DataFrame) -> int:
    """Distinct bytes the edge was asked for on the test day."""
    return int(object_sizes(test).sum())


def capacities_for(
    working_set: int,
    fractions: Sequence[float] = WORKING_SET_FRACTIONS,
    configured: int | None = None,
    absolute: Sequence[int] = (),
) -> list[Capacity]:
    """Capacities for one edge: shares of its working set, its configured size, given sizes."""
    if working_set < 1:
        raise VodlakeError("the edge requested nothing on the test day", hint="pick another day")
    out = [Capacity(fraction_label(f), max(1, round(f * working_set)), f) for f in fractions]
    if configured is not None:
        out.append(Capacity(CONFIGURED, int(configured), configured / working_set))
    out += [Capacity(f"{b:,} B", int(b), b / working_set) for b in absolute]
    return out


def clairvoyant_fill(test: pd.DataFrame, capacity: int) -> dict[str, int]:
    """The best static fill for the day, known with hindsight: object_id -> bytes.

    Files ranked by test-day bytes served per stored byte (ties by object id), taken greedily
    while they fit, until the capacity is full: the bound for any fill made the night before.
    """
    served = test.groupby("object_id", sort=False)["size"].sum()
    sizes = object_sizes(test)
    ranked = pd.DataFrame(
        {
            "object_id": served.index.astype(str).to_numpy(),
            "density": (served / sizes).to_numpy(),
            "size": sizes.to_numpy(),
        }
    ).sort_values(["density", "object_id"], ascending=[False, True], kind="stable")
    keep = greedy_fit(ranked["size"].to_numpy(np.int64), capacity)
    chosen = ranked[keep]
    return dict(zip(chosen["object_id"], chosen["size"].astype(int), strict=True))


def greedy_fit(sizes: np.ndarray, capacity: int) -> np.ndarray:
    """Walk in rank order and take every item that still fits (mask)."""
    keep = np.zeros(sizes.shape[0], dtype=np.bool_)
    free = int(capacity)
    for i, size in enumerate(sizes.tolist()):
        if size <= free:
            keep[i] = True
            free -= size
            if free == 0:
                break
    return keep


def compulsory_ceiling(test: pd.DataFrame) -> dict[str, Any]:
    """Hits and hit bytes if only each object's first request of the day missed."""
    first = ~test["object_id"].duplicated()
    sizes = test["size"].to_numpy(np.int64)
    return {
        "hits": int((~first).sum()),
        "hit_bytes": int(sizes[~first.to_numpy()].sum()),
        "note": "1 - distinct bytes / requested bytes: no cache starting the day without them "
        "does better",
    }


def _row(
    edge_id: str,
    policy: str,
    cap: Capacity,
    working_set: int,
    requests: int,
    total: int,
    hits: int,
    hit_bytes: int,
    manifest: Mapping[str, int] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "edge_id": edge_id,
        "policy": policy,
        "capacity_label": cap.label,
        "capacity_fraction": float(cap.fraction),
        "capacity_bytes": int(cap.bytes),
        "working_set_bytes": int(working_set),
        "requests": int(requests),
        "hits": int(hits),
        "hit_ratio": hits / requests,
        "bytes": int(total),
        "hit_bytes": int(hit_bytes),
        "byte_hit_ratio": hit_bytes / total,
        "manifest_objects": None if manifest is None else len(manifest),
        "manifest_bytes": None if manifest is None else int(sum(manifest.values())),
        "note": note,
    }


def ordered(trace: pd.DataFrame) -> pd.DataFrame:
    """Requests by time, ties by object id: Spark keeps no order inside a group."""
    return trace.sort_values(["time", "object_id"], kind="stable").reset_index(drop=True)


def replay_edge(
    trace: pd.DataFrame,
    capacities: Sequence[Capacity],
    manifests: Mapping[str, Mapping[str, int]],
    hybrid: Mapping[str, tuple[Mapping[str, int], float]] | None = None,
) -> pd.DataFrame:
    """Every policy and bound of `POLICIES` at every capacity, for one edge's test day.

    ``trace``: edge_id, time, object_id (text), size, is_test (the previous day's rows, with
    is_test false, warm LRU, Belady and the hybrid's LRU part; they are not counted).
    ``manifests``: capacity label -> the prefill (object_id -> bytes). ``hybrid``: capacity
    label -> (manifest pinned, share of capacity it was cut to); LRU runs in the rest, warmed
    on the day before like the baselines.
    """
    trace = ordered(trace.astype({"object_id": str}))
    counted = trace["is_test"].to_numpy(dtype=bool)
    if not counted.any():
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    edge_id = str(trace["edge_id"].iloc[0])
    test = trace[counted].reset_index(drop=True)
    full = cachesim.Trace.from_arrays(trace["time"], trace["object_id"], trace["size"])
    day = cachesim.Trace.from_arrays(test["time"], test["object_id"], test["size"])
    sizes = day.sizes
    requests, total = day.n_requests, day.total_bytes
    working_set = working_set_bytes(test)
    ceiling = compulsory_ceiling(test)
    rows: list[dict[str, Any]] = []

    def counts(hit: np.ndarray) -> tuple[int, int]:
        return int(np.count_nonzero(hit)), int(sizes[hit].sum())

    for cap in capacities:
        base = (edge_id, cap, working_set, requests, total)
        fill = manifests.get(cap.label)
        if fill is not None:
            hit = cachesim.replay(day, "prefill", cap.bytes, manifest=dict(fill))
            rows.append(_named(base, PREFILL, counts(hit), fill, "filled the night before"))
        if hybrid and cap.label in hybrid:
            pinned, share = hybrid[cap.label]
            hit = cachesim.replay(full, "prefill-lru", cap.bytes, manifest=dict(pinned))[counted]
            note = f"manifest cut to {share:.0%} of capacity, LRU in the rest (warmed)"
            rows.append(_named(base, HYBRID, counts(hit), pinned, note))
        best = clairvoyant_fill(test, cap.bytes)
        hit = cachesim.replay(day, "prefill", cap.bytes, manifest=best)
        rows.append(_named(base, CLAIRVOYANT, counts(hit), best, "best static fill in hindsight"))
        ceiling_hits = (ceiling["hits"], ceiling["hit_bytes"])
        rows.append(_named(base, CEILING, ceiling_hits, None, ceiling["note"]))
        for policy, sim in ((LRU_WARM, "lru"), (BELADY_WARM, "belady-bypass")):
            hit = cachesim.replay(full, sim, cap.bytes)[counted]
            rows.append(_named(base, policy, counts(hit), None, "warmed on the day before"))
    out = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    return out.astype({"manifest_objects": "Int64", "manifest_bytes": "Int64"})


def _named(
    base: tuple[str, Capacity, int, int, int],
    policy: str,
    hits: tuple[int, int],
    manifest: Mapping[str, int] | None,
    note: str | None = None,
) -> dict[str, Any]:
    edge_id, cap, working_set, requests, total = base
    return _row(edge_id, policy, cap, working_set, requests, total, *hits, manifest, note)


def totals(per_edge: pd.DataFrame, edge_id: str = "ALL") -> pd.DataFrame:
    """Edges summed per policy and capacity label: ratios of the sums."""
    keys = ["policy", "capacity_label"]
    sums = (
        per_edge.groupby(keys, as_index=False, sort=False)[
            ["capacity_bytes", "working_set_bytes", "requests", "hits", "bytes", "hit_bytes"]
        ]
        .sum()
        .assign(edge_id=edge_id, note="sum over edges")
    )
    for column in ("manifest_objects", "manifest_bytes"):
        sums[column] = pd.Series(pd.NA, index=sums.index, dtype="Int64")
    sums["capacity_fraction"] = sums["capacity_bytes"] / sums["working_set_bytes"]
    sums["hit_ratio"] = sums["hits"] / sums["requests"]
    sums["byte_hit_ratio"] = sums["hit_bytes"] / sums["bytes"]
    return sums[list(ROW_COLUMNS)]


def verdicts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per edge and capacity: prefill as a fraction of the bound, points over warm LRU.

    The fraction is prefill hit bytes over the clairvoyant static fill's: both are static sets
    judged on the same requests, so it is at most 1 unless the prefill found a set the greedy
    bound's rounding missed (it is reported as it is, never clipped).
    """
    wide = rows.pivot_table(
        index=["edge_id", "capacity_label"],
        columns="policy",
        values=["byte_hit_ratio", "hit_bytes"],
        aggfunc="first",
        sort=False,
    )
    out = pd.DataFrame(index=wide.index)
    for policy in POLICIES:
        if ("byte_hit_ratio", policy) in wide.columns:
            out[policy] = wide[("byte_hit_ratio", policy)].astype(float)
    if PREFILL in out and CLAIRVOYANT in out:
        bound = wide[("hit_bytes", CLAIRVOYANT)].astype(float)
        out["prefill_fraction_of_bound"] = np.where(
            bound > 0, wide[("hit_bytes", PREFILL)].astype(float) / bound.where(bound > 0), np.nan
        )
    if PREFILL in out and LRU_WARM in out:
        out["points_over_lru_warm"] = 100 * (out[PREFILL] - out[LRU_WARM])
    if HYBRID in out and PREFILL in out:
        out["hybrid_beats_prefill"] = out[HYBRID] > out[PREFILL]
    return out.reset_index()
