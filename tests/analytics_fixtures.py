"""Small analytics lakes for tests: seeded playback in silver, then the nightly chain on it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

FIRST = date(2026, 11, 2)


def analytics_lake(
    spark: Any,
    home: Path,
    *,
    titles: int,
    max_duration_s: float,
    days: int,
    sessions_per_day: int,
    seed: int,
) -> dict[str, Any]:
    """Generate ``days`` days into silver under ``home``; run popularity + placement for the
    day before the last and the whole nightly chain for the last day (trained on the rest)."""
    from vodlake.config import load_config
    from vodlake.placement import nightly
    from vodlake.telemetry import history

    # a local origin: the tests read the prefill manifests as files
    origin = str(home / "origin")
    cfg = load_config("test", overrides={"paths": {"home": str(home), "origin": origin}})
    catalog = history.short_catalog(titles, seed, max_duration_s=max_duration_s)
    made = history.generate_history(
        spark,
        cfg,
        first=FIRST,
        days=days,
        sessions_per_day=sessions_per_day,
        seed=seed,
        catalog=catalog,
    )
    log: list[str] = []
    before = made.last - timedelta(days=1)
    nightly.run(spark, cfg, before, steps=("popularity", "placement"), log=log.append)
    results = nightly.run(spark, cfg, made.last, train_days=days - 1, log=log.append)
    return {"cfg": cfg, "history": made, "before": before, "log": log, **results}
