"""Workload variants the prefill is judged on, generated and evaluated without Spark.

Why: a forecast judged only on the workload it was designed for proves little. Each variant
changes what the forecast must cope with (a flatter popularity curve, faster drift, stronger
regional tastes, titles launching on the test days); all of them keep regional/ISP tastes,
series watched in order and sessions that resume part-way, which the forecast does not model
one to one. `bench/placement_variants.py` prints the table per variant and seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from vodlake.config import TopologyConf
from vodlake.placement import model, offline, replay
from vodlake.telemetry import generator

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
# What every variant shares: regional and ISP tastes, binge viewing, resumes.
BASE = generator.SimParams(
    regional_preference=1.0,
    isp_genre_preference=0.5,
    binge_continue=0.6,
    resume_share=0.2,
)
VARIANTS: dict[str, dict[str, Any]] = {
    "zipf-0.7": {"params": {"zipf_exponent": 0.7}},
    "high-drift": {"params": {"drift_sigma": 0.5, "drift_rho": 0.8}},
    "regional-mix": {"params": {"regional_preference": 2.0, "isp_genre_preference": 1.0}},
    "test-day-releases": {"releases_per_test_day": 3},
}


@dataclass(frozen=True)
class Workload:
    titles: int = 300
    max_duration_s: float = 600.0
    sessions_per_day: int = 3000
    train_days: int = 5
    test_days: int = 2
    series_share: float = 0.5


def catalog_for(variant: str, seed: int, size: Workload) -> list[generator.CatalogVideo]:
    """The variant's catalog; test-day releases move a few titles' launch onto the test days."""
    catalog = generator.short_catalog(
        size.titles, seed, max_duration_s=size.max_duration_s, series_share=size.series_share
    )
    per_day = VARIANTS[variant].get("releases_per_test_day", 0)
    if not per_day:
        return catalog
    rng = np.random.default_rng([seed, 14])
    picks = rng.choice(
        [i for i, v in enumerate(catalog) if v.episode in (None, 1)],
        size=per_day * size.test_days,
        replace=False,
    )
    first_test = 1 + size.train_days  # local day 0 is dropped (partial in UTC)
    out = list(catalog)
    for n, i in enumerate(sorted(picks.tolist())):
        out[i] = dataclasses.replace(out[i], release_day=first_test + n // per_day)
    return out


def requests_of(events: Any) -> pd.DataFrame:
    """Chunk events -> the request log the evaluation reads (time, object_id, size, edge)."""
    keys = ("event_time", "video_id", "rendition", "chunk_idx", "bytes", "edge_id")
    rows = [tuple(ev[k] for k in keys) for ev in events if ev["event_type"] == "chunk"]
    frame = pd.DataFrame(rows, columns=list(keys))
    stamps = pd.to_datetime(frame["event_time"], format="%Y-%m-%dT%H:%M:%S.%fZ", utc=True)
    return pd.DataFrame(
        {
            "time": stamps.astype("int64").to_numpy() / 1e9,
            "object_id": frame["video_id"]
            + "/"
            + frame["rendition"]
            + "/"
            + frame["chunk_idx"].astype(str),
            "size": frame["bytes"],
            "edge": frame["edge_id"],
        }
    )


def catalog_frames(catalog: Sequence[generator.CatalogVideo], start: datetime) -> model.Catalog:
    """Every file with its size and the release schedule, on the trace's day numbering."""
    day0 = int(start.timestamp() // offline.DAY_S)
    files = [
        (f"{v.video_id}/{name}/{i}", v.video_id, name, i, size)
        for v in catalog
        for name, sizes in v.renditions.items()
        for i, size in enumerate(sizes)
    ]
    titles = pd.DataFrame(
        {
            "video_id": [v.video_id for v in catalog],
            "release_day": [
                np.nan if v.release_day is None else float(day0 + v.release_day) for v in catalog
            ],
            "release_at": [v.release_at(start) for v in catalog],
            "genre": [v.genre for v in catalog],
            "language": [v.language for v in catalog],
        }
    )
    return model.Catalog(
        pd.DataFrame(files, columns=["object_id", "video_id", "rendition", "chunk_idx", "size"]),
        titles,
    )


def generate(
    variant: str, seed: int, topology: TopologyConf, size: Workload = Workload()
) -> tuple[pd.DataFrame, model.Catalog]:
    """The variant's request log (whole UTC days only) and its catalog with the schedule."""
    params = dataclasses.replace(BASE, **VARIANTS[variant].get("params", {}))
    catalog = catalog_for(variant, seed, size)
    days = 1 + size.train_days + size.test_days + 1
    events = generator.generate(
        catalog, topology, days, size.sessions_per_day, seed, start=START, params=params
    )
    req = offline.normalize(requests_of(events))
    day0 = int(START.timestamp() // offline.DAY_S)
    # UTC day 0 and the last one are partial (regions start their local day at other times).
    req = req[(req["day"] > day0) & (req["day"] < day0 + days - 1)].reset_index(drop=True)
    return req, catalog_frames(catalog, START)


def run_variant(
    variant: str,
    seed: int,
    topology: TopologyConf,
    *,
    size: Workload = Workload(),
    fractions: Sequence[float] = (0.05, 0.2),
    fill_share: float = 0.3,
    use_schedule: bool = True,
    generated: tuple[pd.DataFrame, model.Catalog] | None = None,
    params: model.ForecastParams | None = None,
    log: Callable[[str], None] | None = None,
) -> offline.TraceEvaluation:
    """Generate the variant, evaluate the test days at the configured capacities and shares."""
    req, catalog = generated or generate(variant, seed, topology, size)
    if log:
        log(f"{variant} seed {seed}: {len(req):,} requests over {req['day'].nunique()} days")
    return offline.evaluate_requests(
        req,
        train_days=size.train_days,
        test_days=size.test_days,
        capacities=[offline.CapacitySpec(f"{100 * f:g}%", fraction=f) for f in fractions],
        regions={e.id: e.region for e in topology.edges},
        catalog=catalog if use_schedule else None,
        configured={e.id: e.capacity_bytes for e in topology.edges},
        fill_budget=fill_share,
        params=params,
    )


def summary(ev: offline.TraceEvaluation, capacity: str = replay.CONFIGURED) -> dict[str, float]:
    """Over test days, all edges summed: prefill's share of the bound and points over warm LRU."""
    v = ev.verdicts
    part = v[(v["edge_id"] == "ALL") & (v["capacity_label"] == capacity)]
    return {
        "fraction_of_bound": float(part["prefill_fraction_of_bound"].mean()),
        "points_over_lru_warm": float(part["points_over_lru_warm"].mean()),
        "prefill": float(part[replay.PREFILL].mean()),
        "hybrid": float(part[replay.HYBRID].mean()),
        "clairvoyant": float(part[replay.CLAIRVOYANT].mean()),
        "lru_warm": float(part[replay.LRU_WARM].mean()),
        "belady_warm": float(part[replay.BELADY_WARM].mean()),
        "capacity_share_of_working_set": float(
            (part["capacity_bytes"] / part["working_set_bytes"]).mean()
        ),
    }


__all__ = ["BASE", "VARIANTS", "Workload", "catalog_frames", "generate", "run_variant", "summary"]
