"""Demo stage: the closed loop, short (`vodlake loop --days 2` with a small load).

Day 1 players watch real transcodes and labelled synthetic titles through cold edges; the
nightly chain runs on that day's telemetry; the fill agent prefills one ISP's edges; day 2
players watch again. The figures come from the edges' own logs, beside the cache simulator's
prediction for the same requests. It runs in the loop's namespace inside the demo's (topics
`loop.demo.*`, data under <demo home>/loop, edges 127.0.14.N, its own steering); its catalog
(real transcoded clips, synthetic titles) is kept across runs.
"""

from __future__ import annotations

from typing import Any

from vodlake.delivery.loop import LoopSize

# Small enough for the demo's 10 minutes on 2 cores: 4 short real clips and 56 SYNTHETIC titles
# shaped like them (the catalog's long tail), 12 players, 30 s per day, each edge 7% of the
# catalog's video bytes (well above the cache floor; the same bytes on both arms).
DEMO_LOOP = LoopSize(
    days=2, clients=12, minutes=0.5, speed=8.0, titles=4, seconds=12.0, synthetic=56,
    capacity_share=0.07,
)  # fmt: skip


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def stage(ctx: Any) -> list[tuple[str, object]]:
    """Run the loop, print its table, return the day-N figures per arm and the gaps."""
    from vodlake.delivery import loop

    result = loop.run(ctx.spark, ctx.cfg, DEMO_LOOP, log=ctx.log)
    for line in loop.render(result).splitlines():
        ctx.log(line)
    last = result["days"]
    rows: list[tuple[str, object]] = [
        ("arms (A/B by ISP, swapped each run)",
         f"prefill {','.join(result['arms']['prefill'])}; pull {','.join(result['arms']['pull'])}"),
        ("catalog (real transcodes + SYNTHETIC load titles)",
         f"{result['catalog']['real']} real + {result['catalog']['synthetic']} synthetic"),
        ("edge capacity (both arms)", result["capacity_bytes"]),
    ]  # fmt: skip
    for (day, arm), v in sorted(result["arms_total"].items()):
        rows.append(
            (
                f"day {day} {arm} byte hit measured / predicted",
                f"{_pct(v['byte_hit_ratio'])} / {_pct(v['sim_byte_hit_ratio'])}",
            )
        )
    gaps = [
        abs(r["byte_hit_ratio"] - r["sim_byte_hit_ratio"])
        for r in result["edges"]
        if r["day"] == last and r["arm"] == "prefill" and r["bytes"]
    ]
    if gaps:
        rows.append((f"day {last} prefill edges, largest |measured - predicted|",
                     f"{100 * max(gaps):.1f} points"))  # fmt: skip
    rows.append(("origin bytes (all days)", sum(r["origin_bytes"] for r in result["edges"])))
    rows.append(("fill bytes", sum(r["fill_bytes"] for r in result["edges"])))
    for d in result["players"]:
        rows.append(
            (
                f"day {d['day']} sessions / failed",
                f"{d['sessions']} / {d['failed_sessions']}, startup p50 {d['startup_p50_s']} s,"
                f" rebuffer ratio {d['rebuffer_ratio']}",
            )
        )
    return rows
