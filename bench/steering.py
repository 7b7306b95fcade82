"""Benchmark the steering service: answers per second and latency at a fixed offered load.

Run: ``python bench/steering.py [--rate 1000] [--seconds 10] [--titles 2000]``. Loopback only,
bounded (rate x seconds requests, open loop: requests are sent on a fixed schedule whatever
the answers do, so a slow server shows as latency instead of a lower offered load).

The server is the real steering app (vodlake.delivery.steering.make_app) in its own process,
with the default six-edge topology marked healthy, every edge holding a share of the titles,
and a catalog of synthetic ready titles (the Delta read is not what is measured). Clients
connect from addresses in the six ISPs' prefixes, as players do. Baseline in the same run: the
same server's /health (no ranking) at the same offered load; the ratio is what the ranking and
its JSON cost. Goal: p99 <= 5 ms at 1,000 requests/s.

Players per core are not measured here (they need edges and an origin): `vodlake watch --json`
prints `cpu_s` and `wall_s`, and clients x wall_s / cpu_s is the players one core sustains.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time
from random import Random
from typing import Any

from vodlake.config import load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, titles: int, ready: Any) -> None:
    from aiohttp import web

    from vodlake.delivery import steering

    cfg = load("test")
    catalog = {
        f"title-{i:05d}": steering.Title(
            f"title-{i:05d}",
            f"Title {i}",
            600.0,
            f"title-{i:05d}/master.m3u8",
            f"title-{i:05d}/manifest.mpd",
            f"s3a://b/videos/title-{i:05d}/master.m3u8",
            None,
        )
        for i in range(titles)
    }
    s = steering.Steering(cfg, steering.Catalog(cfg, catalog))
    rng = Random(1)
    ids = list(catalog)
    for e in s.edges:
        e.healthy = True
        e.holds = frozenset(rng.sample(ids, len(ids) // 10))  # under 10% of the catalog each
    ready.set()
    web.run_app(
        steering.make_app(s, poll=False), host="127.0.0.1", port=port, access_log=None, print=None
    )


async def _load(port: int, path: Any, rate: float, seconds: float) -> dict[str, float]:
    import aiohttp

    cfg = load("test")
    sessions = []
    for pop in cfg.topology.populations:
        host = pop.prefixes[0].split("/")[0].rsplit(".", 2)[0] + ".0.7"
        conn = aiohttp.TCPConnector(local_addr=(host, 0), limit=64)
        sessions.append(aiohttp.ClientSession(connector=conn))
    latencies: list[float] = []
    errors = 0
    n = int(rate * seconds)

    async def one(i: int, at: float) -> None:
        nonlocal errors
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.perf_counter()
        try:
            async with sessions[i % len(sessions)].get(f"http://127.0.0.1:{port}{path(i)}") as r:
                await r.read()
                if r.status != 200:
                    errors += 1
        except aiohttp.ClientError:
            errors += 1
            return
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter() + 0.2
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, start + i / rate) for i in range(n)))
    wall = time.perf_counter() - t0
    for s in sessions:
        await s.close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "sent": n,
        "ok": len(latencies) - errors,
        "errors": errors,
        "answers_per_s": len(latencies) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
    }


def rank_alone(titles: int, n: int = 20_000) -> float:
    """Microseconds per Steering.rank() call, no HTTP: the ranking's own share of a request."""
    from vodlake.delivery import steering

    cfg = load("test")
    s = steering.Steering(cfg, steering.Catalog(cfg, {}))
    for e in s.edges:
        e.healthy = True
    catalog = [
        steering.Title(f"t{i}", "", 1.0, f"t{i}/master.m3u8", None, f"s3a://b/videos/t{i}/m", None)
        for i in range(titles)
    ]
    t0 = time.perf_counter()
    for i in range(n):
        s.rank("127.10.0.7", catalog[i % titles])
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--titles", type=int, default=2000)
    args = parser.parse_args()
    print(f"rank() alone: {rank_alone(args.titles):.1f} us per call (no HTTP)", flush=True)
    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(port, args.titles, ready), daemon=True)
    server.start()
    try:
        ready.wait(30)
        time.sleep(1.0)
        rng = Random(7)

        def steer(i: int) -> str:
            return f"/v1/steer?video_id=title-{int(rng.paretovariate(1.0)) % args.titles:05d}"

        def health(i: int) -> str:
            return "/health"

        results = {}
        for name, path in (("baseline /health", health), ("steer /v1/steer", steer)):
            asyncio.run(_load(port, path, args.rate, 1.0))  # warm-up, not counted
            results[name] = asyncio.run(_load(port, path, args.rate, args.seconds))
            r = results[name]
            print(
                f"{name:<18} offered {args.rate:>6.0f}/s  answered {r['answers_per_s']:>7.1f}/s  "
                f"ok {r['ok']}/{r['sent']}  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                f"max {r['max_ms']:6.1f} ms",
                flush=True,
            )
        base, steer_r = results["baseline /health"], results["steer /v1/steer"]
        print(
            f"ratio steer/baseline: p50 x{steer_r['p50_ms'] / max(base['p50_ms'], 1e-9):.2f}  "
            f"p99 x{steer_r['p99_ms'] / max(base['p99_ms'], 1e-9):.2f}  "
            f"goal p99 <= 5 ms at 1000/s: {'met' if steer_r['p99_ms'] <= 5 else 'not met'}"
        )
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
