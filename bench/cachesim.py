"""Benchmark the cache simulator: every policy on a seeded Zipf trace, next to a plain-Python LRU.

Run: ``python bench/cachesim.py [--requests N]``. The numba kernels are compiled (or loaded from
numba's on-disk cache) by a warm-up call before anything is timed. The plain-Python baseline is
an OrderedDict LRU with the same semantics; its hit count must equal the numba LRU's, which also
checks the engine on a large trace.
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from vodlake.placement import simulator as cachesim
from vodlake.placement.simulator import Trace, simulate


def zipf_trace(n_requests: int, n_objects: int, alpha: float, seed: int) -> Trace:
    """Zipf(alpha) popularity, log-normal sizes (median 2 MiB), Poisson arrivals over a day."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_objects + 1, dtype=np.float64) ** alpha
    ranks = rng.choice(n_objects, size=n_requests, p=weights / weights.sum())
    ids = rng.permutation(n_objects)[ranks]  # popularity is not in id order
    object_sizes = np.clip(rng.lognormal(np.log(2 * 2**20), 1.0, n_objects), 64 * 2**10, 64 * 2**20)
    sizes = object_sizes.astype(np.int64)[ids]
    times = np.cumsum(rng.exponential(86_400.0 / n_requests, n_requests))
    return Trace.from_arrays(times, ids, sizes)


def python_lru(ids: list[int], sizes: list[int], capacity: int) -> tuple[int, int]:
    """Plain-Python LRU (OrderedDict), libCacheSim rules: returns (hits, hit bytes)."""
    cache: OrderedDict[int, int] = OrderedDict()
    used = hits = hit_bytes = 0
    for o, s in zip(ids, sizes, strict=True):
        if o in cache:
            cache.move_to_end(o)
            hits += 1
            hit_bytes += s
            continue
        if s > capacity:
            continue
        while used + s > capacity:
            used -= cache.popitem(last=False)[1]
        cache[o] = s
        used += s
    return hits, hit_bytes


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000_000)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--alpha", type=float, default=0.9, help="Zipf exponent")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache-fraction", type=float, default=0.1, help="capacity as a share of unique bytes"
    )
    parser.add_argument("--ttl", type=float, default=3600.0, help="seconds, for policy ttl")
    parser.add_argument("--repeat", type=int, default=3, help="numba runs per policy (best)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    cachesim.warm_up()
    print(f"numba warm-up (compile or load cache): {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    trace = zipf_trace(args.requests, args.objects, args.alpha, args.seed)
    print(
        f"trace: {trace.n_requests:,} requests, {trace.n_objects:,} objects, "
        f"zipf alpha {args.alpha}, built in {time.perf_counter() - start:.2f} s"
    )
    unique_bytes = int(trace.first_sizes.sum())
    capacity = int(unique_bytes * args.cache_fraction)
    print(f"capacity: {capacity:,} bytes ({args.cache_fraction:.0%} of {unique_bytes:,} unique)")
    # Prefill manifest: objects by request count, most requested first (an oracle forecast).
    # prefill gets the whole ranking; prefill-lru the head that fills half the capacity, so
    # its LRU part has room to work.
    counts = np.bincount(trace.ids, minlength=trace.n_objects)
    ranked = np.argsort(-counts, kind="stable")
    manifest = trace.labels[ranked].tolist()
    head = int(np.searchsorted(np.cumsum(trace.first_sizes[ranked]), capacity // 2, "right"))
    print(f"prefill-lru manifest: top {head:,} objects (half the capacity)")

    options: dict[str, dict[str, Any]] = {
        "ttl": {"ttl": args.ttl},
        "prefill": {"manifest": manifest},
        "prefill-lru": {"manifest": manifest[:head]},
    }
    rows = []
    for policy in cachesim.POLICIES:
        kw = options.get(policy, {})

        def run(policy: str = policy, kw: dict[str, Any] = kw) -> cachesim.SimResult:
            # Belady's next-use pass is part of its cost: drop the memo so each run pays it.
            trace._cache.pop("next_use", None)
            return simulate(trace, policy, capacity, **kw)

        seconds, result = best_of(args.repeat, run)
        rows.append((policy, seconds, result))

    ids = trace.ids.tolist()
    sizes = trace.sizes.tolist()
    py_seconds, (py_hits, py_hit_bytes) = best_of(1, lambda: python_lru(ids, sizes, capacity))
    lru = next(r for p, _, r in rows if p == "lru")
    if (py_hits, py_hit_bytes) != (lru.hits, lru.hit_bytes):
        raise SystemExit(
            f"mismatch: numba lru {lru.hits}/{lru.hit_bytes}, python lru {py_hits}/{py_hit_bytes}"
        )

    n = trace.n_requests
    print()
    print(f"{'policy':<14}{'seconds':>9}{'Mreq/s':>9}{'hit_ratio':>11}{'byte_hit':>10}")
    for policy, seconds, r in rows:
        print(
            f"{policy:<14}{seconds:>9.3f}{n / seconds / 1e6:>9.2f}"
            f"{r.hit_ratio:>11.4f}{r.byte_hit_ratio:>10.4f}"
        )
    py_label = "python-lru"
    print(
        f"{py_label:<14}{py_seconds:>9.3f}{n / py_seconds / 1e6:>9.2f}"
        f"{py_hits / n:>11.4f}{py_hit_bytes / trace.total_bytes:>10.4f}"
    )
    lru_seconds = next(s for p, s, _ in rows if p == "lru")
    print()
    print(f"numba-LRU / plain-Python-LRU throughput ratio: {py_seconds / lru_seconds:.1f}x")
    print("(belady: optimal for unit sizes only; sizes vary here)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
