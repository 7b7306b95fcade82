"""The nightly prefill over workload variants and seeds, against its bound and warm LRU.

`python bench/placement_variants.py [--seeds 1,2,3] [--variants a,b] [--sessions N]` generates
each variant (no Spark), trains on 4 days, evaluates 2 test days (the second placed from the
first's fill, with a fill budget of 30% of capacity a night) and prints, per variant and seed at
the configured edge capacities (all edges summed, mean over the test days): prefill as a
fraction of the clairvoyant static fill, points over LRU warmed on the day before, and the
ratios behind them. Baselines run in the same replay, so the ratios compare like with like.
Then where the rest goes (`vodlake.placement.gaps`): the bound over titles knowable the night
before, the model's fill given the true title demand, and its fill without a fill budget.
"""

from __future__ import annotations

import argparse
import json
import time

from vodlake.config import load_config
from vodlake.placement import gaps, variants
from vodlake.placement.params import ForecastParams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--variants", default=",".join(variants.VARIANTS))
    parser.add_argument("--sessions", type=int, default=1500, help="sessions per day")
    parser.add_argument("--json", action="store_true", help="one JSON line per run as well")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a ForecastParams knob (tune on seeds other than the reported ones)",
    )
    args = parser.parse_args(argv)
    topology = load_config("test").topology
    size = variants.Workload(
        titles=150, max_duration_s=300, sessions_per_day=args.sessions, train_days=4, test_days=2
    )
    knobs: dict[str, float | int] = {}
    for item in args.param:
        name, _, value = item.partition("=")
        knobs[name] = int(value) if name in ("lookback_days", "release_age_days") else float(value)
    params = ForecastParams(**{"lookback_days": size.train_days, **knobs})
    if knobs:
        print(f"forecast knobs: {params}")
    print(
        f"{'variant':<18} {'seed':>4} {'of bound':>9} {'pts/LRU':>8} {'prefill':>8} "
        f"{'pf+lru':>7} {'bound':>7} {'lru-w':>7} {'belady-w':>8} "
        f"{'knowable':>8} {'oracle-t':>8} {'fresh':>6} {'s':>5}"
    )
    results = []
    for name in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            started = time.monotonic()
            generated = variants.generate(name, seed, topology, size)
            ev = variants.run_variant(
                name, seed, topology, size=size, generated=generated, params=params
            )
            s = variants.summary(ev)
            g = gaps.shares(
                gaps.breakdown(
                    *generated,
                    train_days=size.train_days,
                    test_days=size.test_days,
                    regions={e.id: e.region for e in topology.edges},
                    capacities={e.id: e.capacity_bytes for e in topology.edges},
                    params=params,
                )
            )
            results.append({"variant": name, "seed": seed, **s, **g})
            print(
                f"{name:<18} {seed:>4} {s['fraction_of_bound']:>9.1%} "
                f"{s['points_over_lru_warm']:>+8.1f} {s['prefill']:>8.3f} {s['hybrid']:>7.3f} "
                f"{s['clairvoyant']:>7.3f} {s['lru_warm']:>7.3f} {s['belady_warm']:>8.3f} "
                f"{g['knowable_bound']:>8.1%} {g['oracle_titles']:>8.1%} "
                f"{g['fresh_prefill']:>6.1%} {time.monotonic() - started:>5.0f}",
                flush=True,
            )
            if args.json:
                print(json.dumps(results[-1]), flush=True)
    keys = ("fraction_of_bound", "points_over_lru_warm", "knowable_bound", "oracle_titles")
    keys += ("fresh_prefill",)
    for name in dict.fromkeys(r["variant"] for r in results):
        part = [r for r in results if r["variant"] == name]
        m = {k: sum(r[k] for r in part) / len(part) for k in keys}
        print(
            f"{name:<18} mean {m['fraction_of_bound']:>9.1%} {m['points_over_lru_warm']:>+8.1f} "
            f"knowable {m['knowable_bound']:.1%} oracle-titles {m['oracle_titles']:.1%} "
            f"fresh {m['fresh_prefill']:.1%} (of the bound)"
        )
    print(
        "knowable = clairvoyant fill of titles known the night before (history or schedule); "
        "oracle-t = the model's fill with true title demand; fresh = the model's fill without "
        "yesterday's placement (no fill budget); all as shares of the bound, configured capacity"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
