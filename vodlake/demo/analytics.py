"""Demo stage: a short generated playback history, the nightly chain, per-edge figures.

It writes into a lake of its own (<demo home>/analytics/...) because silver's one writer is the
ingest,
generates a few days of playback straight into silver, runs the nightly chain for the last day
(popularity -> placement -> manifests -> evaluation against the days before) and reports, per
edge at its configured capacity, the prefill manifest it got, the prefill's byte hit ratio as a
fraction of its bound (the clairvoyant static fill) and against LRU warmed on the day before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from vodlake.config import Config
from vodlake.placement import evaluation as evaluate_placement
from vodlake.placement import nightly, replay
from vodlake.telemetry import history

DEMO_FIRST = date(2026, 11, 1)


@dataclass(frozen=True)
class DemoSize:
    """How much history the stage generates (small enough for a couple of minutes on 2 cores)."""

    titles: int = 150
    max_duration_s: float = 240.0
    train_days: int = 3
    sessions_per_day: int = 1500
    seed: int = 20261101


def analytics_config(cfg: Config, folder: str = "analytics") -> Config:
    """``cfg`` with lake, checkpoints, origin and reports under <paths.home>/<folder>."""
    root = f"{cfg.paths.home.rstrip('/')}/{folder}"
    paths = cfg.paths.model_copy(
        update={
            "lake": f"{root}/lake",
            "checkpoints": f"{root}/checkpoints",
            "origin": f"{root}/origin",
            "reports": f"{root}/reports",
        }
    )
    return cfg.model_copy(update={"paths": paths})


def run_demo(spark: Any, cfg: Config, size: DemoSize, log: Any = print) -> dict[str, Any]:
    """Generate history, run the nightly chain for its last day; return the chain's results."""
    acfg = analytics_config(cfg)
    catalog = history.short_catalog(size.titles, size.seed, max_duration_s=size.max_duration_s)
    log(
        f"generating {size.train_days + 1} days of playback: {size.titles} titles of at most "
        f"{size.max_duration_s:g} s, {size.sessions_per_day:,} sessions a day"
    )
    made = history.generate_history(
        spark,
        acfg,
        first=DEMO_FIRST,
        days=size.train_days + 1,
        sessions_per_day=size.sessions_per_day,
        seed=size.seed,
        catalog=catalog,
    )
    log(
        f"silver {made.first}..{made.last}: {made.rows:,} events; catalog {made.catalog_files:,} "
        f"files, {made.catalog_bytes:,} bytes"
    )
    results = nightly.run(spark, acfg, made.last, train_days=size.train_days, log=log)
    return {"history": made, "config": acfg, **results}


def stage(ctx: Any) -> list[tuple[str, object]]:
    """Per edge at its configured capacity: manifest, prefill vs its bound and warm LRU."""
    size = DemoSize()
    out = run_demo(ctx.spark, ctx.cfg, size, ctx.log)
    made: history.History = out["history"]
    ev: evaluate_placement.Evaluation = out["evaluate"]["evaluation"]
    verdicts = ev.verdicts().set_index(["edge_id", "capacity_label"])
    at = replay.CONFIGURED
    rows: list[tuple[str, object]] = [
        ("analytics: silver events generated", made.rows),
        ("analytics: days (train + test)", f"{made.first} .. {made.last}"),
        ("analytics: catalog bytes", made.catalog_bytes),
    ]
    for edge_id, counts in out["placement"]["edges"].items():
        files = counts["add"][0] + counts["keep"][0]
        held = counts["add"][1] + counts["keep"][1]
        if (edge_id, at) not in verdicts.index:
            rows.append((f"  {edge_id}", f"manifest {files:,} files / {held:,} B; no requests"))
            continue
        v = verdicts.loc[(edge_id, at)]
        rows.append(
            (
                f"  {edge_id}",
                f"manifest {files:,} files / {held:,} B; prefill {v[replay.PREFILL]:.3f} = "
                f"{v['prefill_fraction_of_bound']:.0%} of bound {v[replay.CLAIRVOYANT]:.3f}, "
                f"{v['points_over_lru_warm']:+.1f} pts over warm LRU {v[replay.LRU_WARM]:.3f}",
            )
        )
    head = out["evaluate"]["headline"]
    rows.append(
        (
            "analytics: all edges, configured capacities",
            f"prefill {head['prefill']:.3f} = {head['prefill_fraction_of_bound']:.0%} of the "
            f"clairvoyant static fill {head['clairvoyant_static']:.3f}, "
            f"{head['points_over_lru_warm']:+.1f} pts over warm LRU {head['lru_warm']:.3f} "
            f"(warm Belady {head['belady_warm']:.3f})",
        )
    )
    rows.append(("analytics: report", out["evaluate"]["html"]))
    next_fill = made.last + timedelta(days=1)
    rows.append(("analytics: manifests for the fill of", next_fill.isoformat()))
    return rows
