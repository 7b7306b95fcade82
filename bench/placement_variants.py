"""The nightly prefill over workload variants and seeds, against its bound and warm LRU.

`python bench/placement_variants.py [--seeds 1,2,3] [--variants a,b] [--sessions N]` generates
each variant (no Spark), trains on 4 days, evaluates 2 test days (the second placed from the
first's fill, with a fill budget of 30% of capacity a night) and prints, per variant and seed at
the configured edge capacities (all edges summed, mean over the test days): prefill as a
fraction of the clairvoyant static fill, points over LRU warmed on the day before, and the
ratios behind them. Baselines run in the same replay, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import time

from vodlake.config import load_config
from vodlake.placement import variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--variants", default=",".join(variants.VARIANTS))
    parser.add_argument("--sessions", type=int, default=1500, help="sessions per day")
    parser.add_argument("--json", action="store_true", help="one JSON line per run as well")
    args = parser.parse_args(argv)
    topology = load_config("test").topology
    size = variants.Workload(
        titles=150, max_duration_s=300, sessions_per_day=args.sessions, train_days=4, test_days=2
    )
    print(
        f"{'variant':<18} {'seed':>4} {'of bound':>9} {'pts/LRU':>8} {'prefill':>8} "
        f"{'pf+lru':>7} {'bound':>7} {'lru-w':>7} {'belady-w':>8} {'s':>5}"
    )
    results = []
    for name in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            started = time.monotonic()
            ev = variants.run_variant(name, seed, topology, size=size)
            s = variants.summary(ev)
            results.append({"variant": name, "seed": seed, **s})
            print(
                f"{name:<18} {seed:>4} {s['fraction_of_bound']:>9.1%} "
                f"{s['points_over_lru_warm']:>+8.1f} {s['prefill']:>8.3f} {s['hybrid']:>7.3f} "
                f"{s['clairvoyant']:>7.3f} {s['lru_warm']:>7.3f} {s['belady_warm']:>8.3f} "
                f"{time.monotonic() - started:>5.0f}",
                flush=True,
            )
            if args.json:
                print(json.dumps(results[-1]), flush=True)
    for name in dict.fromkeys(r["variant"] for r in results):
        part = [r for r in results if r["variant"] == name]
        frac = sum(r["fraction_of_bound"] for r in part) / len(part)
        pts = sum(r["points_over_lru_warm"] for r in part) / len(part)
        print(f"{name:<18} mean {frac:>9.1%} {pts:>+8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
