"""`vodlake loop --days N`: the closed loop, players -> telemetry -> nightly -> fill -> players.

Why: the placement is judged by the simulator on telemetry; this runs the real thing end to end
and measures it from the edges' own request logs, so simulator and edges can be compared.

Day 1 players watch through cold edges (pull-through only). Their playback events go Kafka ->
silver, the edges' request logs are shipped (Kafka `edge-logs`) and ingested to edge_requests,
the nightly chain runs on that day's telemetry (silver -> popularity -> placement + manifests),
and the fill agent prefills the edges of the prefill arm. Day 2 players watch again, and so on.

A/B by ISP: the edges of one ISP prefill, the other ISP's edges stay pull-through only (they
keep their nginx cache from the days before). The arm is an ISP, not an edge, because steering
sends a client to an edge of its ISP that holds the title first: a prefill edge beside a
pull-through edge of the same ISP would take the prefilled titles' traffic away from it. The
arms swap on alternate runs (run counter in the loop's home, or --run).

Dates: players stamp event_time with the wall clock shifted by whole days, so day k of N lands
on date today-(N-k); the nightly chain of day k is run on that date and reads exactly those
events. The edges' logs carry the real wall time, so edge requests are assigned to a day by
the wall-clock window in which that day's players ran.

Prediction: the cache simulator replays each edge's own request sequence (every video GET,
playlists included, in the order they started) through a model of the edge as nginx runs it:
misses stored at once and charged in whole blocks; the cache trimmed to max_size only when
nginx's cache manager wakes (at start or reload, then every 10 s), not before each admission;
the cache loader's one walk (60 s after start) re-adding cached files in directory order; on
days after a fill, the prefill store answering its files. Measured at capacity share 0.12, an
instant-eviction LRU predicted 30-57 points too few hits (nginx held up to 2.6x max_size at
the end of day 1); this model agreed on every request but a handful.

Everything runs in the loop's own namespace (topics `loop.*`, data under <home>/loop, origin
prefix <origin>/loop, edges on 127.0.14.N, its own steering): production is never touched.
The catalog is a few real transcodes (short generated clips) and, for load, many SYNTHETIC titles
(sample_catalog.build_synthetic: a real title's playlists and segment sizes over random bytes,
labelled synthetic in the catalog and in the output), so it has a Zipf long tail larger than an
edge; it is built once and kept across runs. The telemetry tables, checkpoints, topics and edge
state are reset at every run.

Storage-fair A/B: every edge holds `capacity` bytes. A pull-through edge's cache gets all of
it; on a prefill edge the fill stops at capacity less the cache's floor (edges.prefill_room)
and the cache gets the rest. Players draw day k from one seed's popularity model (its day k),
so both arms see the same mix of clients (one ISP each, equal populations) and titles.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from vodlake.config import Config
from vodlake.config import _deep_merge as _merge
from vodlake.delivery.sample_catalog import SYNTHETIC_PREFIX
from vodlake.demo.namespace import demo_config
from vodlake.errors import VodlakeError

Log = Callable[[str], None]
PREFIX = "loop"
ISPS = ("comcast", "verizon")
PREFIXES = {"comcast": "127.20.0.0/16", "verizon": "127.21.0.0/16"}
CATALOG_TABLES = ("demo_events", "videos", "renditions", "segments", "sync_state")
HIT = ("PREFILL", "HIT")
SYNTHETIC_OBJECTS = f"videos/{SYNTHETIC_PREFIX}"  # synthetic titles' files on the edges


@dataclass(frozen=True)
class LoopSize:
    """How big a run is (small: the machine is shared)."""

    days: int = 2
    # ~190 sessions a day: with 4 clients x 0.3 min (~40 sessions over 60 titles) day 1 did not
    # rank a head, and prefill and pull-through tied within noise; at this size the prefill
    # arm won with either ISP prefilling (README, closed loop)
    clients: int = 12
    minutes: float = 0.5
    speed: float = 8.0
    titles: int = 6  # real transcodes (generated clips)
    seconds: float = 16.0
    # segment-sized synthetic titles shaped like the real ones (sample_catalog.build_synthetic):
    # the catalog's long tail, which a handful of real clips cannot make
    synthetic: int = 54
    # each edge holds this share of the catalog's video bytes: below a day's working set, so
    # LRU evicts; it must stay well above the cache floor (edges.MIN_CACHE_BYTES)
    capacity_share: float = 0.06
    seed: int = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def topology(capacity: int) -> dict[str, Any]:
    """Two edges per ISP in one region, and each ISP's client prefix."""
    edges = [
        {"id": f"use-{isp}-{i}", "region": "us-east", "isp": isp, "capacity_bytes": capacity}
        for isp in ISPS
        for i in (1, 2)
    ]
    pops = [
        {"region": "us-east", "isp": isp, "clients": 1000, "prefixes": [PREFIXES[isp]]}
        for isp in ISPS
    ]
    return {"regions": ["us-east"], "isps": list(ISPS), "edges": edges, "populations": pops}


def loop_config(cfg: Config, capacity: int = 1 << 30, speed: float = 8.0) -> Config:
    """`cfg` moved into the loop namespace, with its small ladder, topology, edges, steering."""
    from vodlake.delivery.sample_catalog import TRANSCODE

    base = demo_config(cfg, PREFIX)
    home = Path(base.paths.home)
    over = {
        "transcode": TRANSCODE,
        "topology": topology(capacity),
        "edges": {"address_prefix": "127.0.14", "state_dir": str(home / "edges")},
        "steering": {"health_interval_s": 1.0, "health_timeout_s": 0.5},
        "players": {"speed": speed, "stall_timeout_s": 3.0, "request_timeout_s": 10.0},
    }
    return type(cfg).model_validate(_merge(base.model_dump(), over))


def run_config(cfg: Config, run: int, edge_port: int, steering_port: int) -> Config:
    """Per run: its own telemetry topics and checkpoints, and the ports it got."""
    data = cfg.model_dump()
    topics = data["kafka"]["topics"]
    over = {
        "kafka": {"topics": {k: f"{topics[k]}.r{run}" for k in ("playback", "edge_logs")}},
        "paths": {"checkpoints": f"{cfg.paths.home}/runs/{run}/checkpoints"},
        "edges": {"port": edge_port},
        "steering": {"port": steering_port},
    }
    return type(cfg).model_validate(_merge(data, over))


def next_run(cfg: Config) -> int:
    """The run counter kept in the loop's home (arms swap on alternate runs)."""
    path = Path(cfg.paths.home) / "loop-runs.txt"
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(n))
    return n


def arms(cfg: Config, run: int) -> dict[str, list[str]]:
    """{"prefill": [...], "pull": [...]} edge ids: one ISP each, swapped on odd/even runs."""
    prefill_isp = ISPS[run % 2]
    edges = cfg.topology.edges
    return {
        "prefill": [e.id for e in edges if e.isp == prefill_isp],
        "pull": [e.id for e in edges if e.isp != prefill_isp],
    }


# --- catalog and reset ------------------------------------------------------------------------


def ensure_catalog(spark: Any, cfg: Config, size: LoopSize, log: Log) -> dict[str, int]:
    """Ready titles: real transcodes, then synthetic ones (built when missing, kept across
    runs); returns their counts and the catalog's video segment bytes (what players fetch)."""
    from pyspark.sql import functions as F

    from vodlake.delivery.sample_catalog import build_catalog, build_synthetic
    from vodlake.lake.tables import Tables

    tables = Tables(cfg)

    def counts() -> tuple[int, int]:
        if not tables.exists(spark, "videos"):
            return 0, 0
        ready = tables.read(spark, "videos").where(F.col("status") == "ready")
        synth = F.col("video_id").startswith(SYNTHETIC_PREFIX)
        return ready.where(~synth).count(), ready.where(synth).count()

    real, synthetic = counts()
    if real < size.titles:
        log(f"catalog: transcoding {size.titles - real} generated clips of {size.seconds:.0f}s")
        media = Path(cfg.paths.home) / "media"
        build_catalog(spark, cfg, media, size.titles - real, size.seconds, first=real)
    if synthetic < size.synthetic:
        log(f"catalog: adding {size.synthetic - synthetic} synthetic titles (random bytes)")
        build_synthetic(spark, cfg, synthetic, size.synthetic - synthetic)
    real, synthetic = counts()
    video = tables.read(spark, "renditions").where(F.col("kind") == "video")
    segs = tables.read(spark, "segments").join(
        video.select("video_id", "rendition"), ["video_id", "rendition"]
    )
    total = int(segs.agg(F.sum("bytes")).first()[0] or 0)
    log(
        f"catalog: {real} real transcoded titles + {synthetic} SYNTHETIC titles (segment-sized"
        f" random bytes shaped like the real ones), {total:,} B of video segments"
    )
    return {"real": real, "synthetic": synthetic, "bytes": total}


def reset(spark: Any, cfg: Config, previous_run: int) -> None:
    """Empty the loop's telemetry tables, the previous run's topics and this run's own (a run
    number comes back: a fixed --run, a test's run 1, a home made anew), catalog kept."""
    from vodlake.lake import fs, kafka_io
    from vodlake.lake.tables import TABLES, Tables

    tables = Tables(cfg)
    for name in TABLES:
        if name not in CATALOG_TABLES:
            fs.delete(spark, tables.path(name))
    for topic in (cfg.kafka.topics.playback, cfg.kafka.topics.edge_logs):
        kafka_io.delete_topic(cfg, topic)
    fs.delete(spark, cfg.paths.checkpoints)  # offsets of those topics
    if previous_run > 0:
        prev = run_config(cfg, previous_run, cfg.edges.port, cfg.steering.port)
        for topic in (prev.kafka.topics.playback, prev.kafka.topics.edge_logs):
            kafka_io.delete_topic(cfg, topic)
        shutil.rmtree(Path(cfg.paths.home) / "runs" / str(previous_run), ignore_errors=True)
    shutil.rmtree(cfg.edges.state_dir, ignore_errors=True)


# --- one day ----------------------------------------------------------------------------------


@dataclass
class Day:
    index: int
    date: date
    started: float = 0.0
    ended: float = 0.0
    players: dict[str, Any] = field(default_factory=dict)
    fill: list[dict[str, Any]] = field(default_factory=list)
    # after this day's night: each prefill edge's store ("videos/..." -> bytes)
    held: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Managers:
    """Each edge's nginx cache manager runs: (start time, max_size), one per start or reload.

    Why: nginx trims the cache only when its cache manager wakes (edges.CACHE_MANAGER_PERIOD_S
    after its last wake, and at once when it starts), so the simulator replays those sweeps.
    """

    runs: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    loaders: dict[str, list[float]] = field(default_factory=dict)  # pending loaders' starts

    def note(self, cfg: Config) -> None:
        from vodlake.delivery import edges

        for lay in edges.layouts(cfg):
            started = edges.cache_manager_started(lay)
            seen = self.runs.setdefault(lay.edge.id, [])
            if started is not None and (not seen or started > seen[-1][0] + 0.05):
                seen.append((started, edges.cache_max_bytes(lay.edge, edges.prefill_bytes(lay))))
            loader = edges.cache_loader_started(lay)
            pending = self.loaders.setdefault(lay.edge.id, [])
            if loader is not None and (not pending or loader > pending[-1] + 0.05):
                pending.append(loader)

    def walks(self, edge_id: str) -> list[float]:
        """When the cache loader walked: its start + the delay, unless a reload ended it."""
        from vodlake.delivery import edges

        out = []
        for start in self.loaders.get(edge_id, []):
            due = start + edges.CACHE_LOADER_DELAY_S
            if not any(start + 0.5 < m < due for m, _ in self.runs.get(edge_id, [])):
                out.append(due)
        return out

    def sweeps(self, edge_id: str, until: float) -> tuple[list[float], list[int]]:
        """Wake times up to `until`, and the max_size in force at each."""
        from vodlake.delivery import edges

        times: list[float] = []
        limits: list[int] = []
        runs = self.runs.get(edge_id, [])
        for k, (start, max_size) in enumerate(runs):
            end = runs[k + 1][0] if k + 1 < len(runs) else until
            n = max(1, int((end - start) // edges.CACHE_MANAGER_PERIOD_S) + 1)
            for j in range(n):
                t = start + j * edges.CACHE_MANAGER_PERIOD_S
                if t < end or j == 0:
                    times.append(t)
                    limits.append(max_size)
        return times, limits


def ingest_day(spark: Any, cfg: Config, log: Log) -> None:
    """Ship the edge logs and drain both topics into the lake (availableNow)."""
    from vodlake.delivery import edges, logs
    from vodlake.telemetry import ingest

    time.sleep(edges.ACCESS_LOG_FLUSH_S + 0.5)  # the day's last lines leave nginx's log buffer
    shipped = logs.ship(cfg, once=True, log=lambda _: None)
    ingest.run(spark, cfg, once=True)
    query = logs.start_ingest(spark, cfg, once=True)
    query.awaitTermination()
    if query.exception() is not None:
        raise VodlakeError(f"edge log ingest failed: {query.exception()}")
    log(f"  ingested playback events and {shipped:,} edge log lines")


def night(spark: Any, cfg: Config, day: Day, prefill: list[str], log: Log) -> None:
    """Nightly chain on the day's telemetry, then the prefill arm's fill."""
    from vodlake.delivery import edges, fill, fill_plan
    from vodlake.placement import nightly

    quiet: Log = lambda _: None  # noqa: E731
    nightly.run(spark, cfg, day.date, steps=("silver", "popularity", "placement"), log=quiet)
    day.fill = fill_plan.run(spark, cfg, day.date, edge_ids=prefill, log=quiet)
    day.held = {e: fill.held_files(edges.layout(cfg, e)) for e in prefill}
    moved = sum(r["moved_bytes"] for r in day.fill)
    log(f"  nightly {day.date} done; prefilled {moved:,} B onto {', '.join(prefill)}")


# --- measurement --------------------------------------------------------------------------------


def edge_rows(spark: Any, cfg: Config) -> Any:
    """Every video GET the edges answered with content, from edge_requests, as pandas.

    Playlists and init segments are in (they take room in the cache) but carry no session id;
    `segment` marks the players' segment requests, the ones the byte hit ratio counts. `t` is
    when the request started (nginx logs its end; `duration_s` before it), the moment nginx
    looked the object up and marked it used. Fill traffic never reaches this log.
    """
    from pyspark.sql import functions as F

    from vodlake.lake.tables import Tables

    return (
        Tables(cfg)
        .read(spark, "edge_requests")
        .where(
            (F.col("method") == "GET")
            & F.col("status").isin(200, 206)
            & F.col("path").startswith("/videos/")
        )
        .select(
            "edge_id",
            (F.col("request_time").cast("double") - F.col("duration_s")).alias("t"),
            "path",
            "bytes",
            "cache_status",
            "upstream_bytes",
            F.col("session_id").isNotNull().alias("segment"),
        )
        .toPandas()
    )


def day_of(t: float, days: list[Day]) -> int:
    return max([d.index for d in days if d.started <= t] or [0])


def qoe_by_arm(spark: Any, cfg: Config, days: list[Day], isp_arm: dict[str, str]) -> dict:
    """Startup p50 (ms) and rebuffer seconds per (day, arm), from silver."""
    from pyspark.sql import functions as F

    from vodlake.lake.tables import Tables

    rows = (
        Tables(cfg)
        .read(spark, "silver_playback")
        .where(F.col("startup_ms").isNotNull() | F.col("rebuffer_ms").isNotNull())
        .select(
            F.to_date("event_time").cast("string").alias("d"),
            "isp",
            "startup_ms",
            "rebuffer_ms",
        )
        .collect()
    )
    by_date = {d.date.isoformat(): d.index for d in days}
    out: dict[tuple[int, str], dict[str, list[float]]] = {}
    for r in rows:
        key = (by_date.get(r["d"], 0), isp_arm.get(r["isp"], "?"))
        acc = out.setdefault(key, {"startup": [], "rebuffer": []})
        if r["startup_ms"] is not None:
            acc["startup"].append(r["startup_ms"])
        if r["rebuffer_ms"] is not None:
            acc["rebuffer"].append(r["rebuffer_ms"])
    return {
        k: {
            "startup_p50_ms": sorted(v["startup"])[len(v["startup"]) // 2]
            if v["startup"]
            else None,
            "rebuffer_s": round(sum(v["rebuffer"]) / 1000, 1),
        }
        for k, v in out.items()
    }


def simulate_edge(
    rows: Any,
    days: list[Day],
    edge_id: str,
    managers: Managers,
    header: int,
    block: int,
    walk_rank: Callable[[list[str]], list[int]] | None = None,
) -> dict[int, float | None]:
    """Segment byte hit ratio per day the simulator predicts for one edge's request sequence.

    The model is the edge as deployed and as nginx runs it: requests in the order they
    started; on days after a fill, an object in the prefill store is answered from it (a hit
    that leaves the cache alone); everything else goes through nginx's cache, which stores
    every miss at once, charged in whole blocks of its cache file (body plus `header` bytes),
    and is trimmed to max_size (capacity minus the prefill, with its floor) only when nginx's
    cache manager wakes (`managers`); when nginx's cache loader walked the cache folder, the
    cached objects move to the young end in its walk order (`walk_rank` of the cache keys).
    The whole sequence is replayed, so each day starts with the cache the days before left;
    every day is reported.
    """
    import numpy as np

    from vodlake.delivery import edges
    from vodlake.placement import simulator

    rows = rows[rows["bytes"] > 0].sort_values("t", kind="stable")
    if rows.empty:
        return {d.index: None for d in days}
    held_before = {d.index + 1: set(d.held.get(edge_id, {})) for d in days}
    pairs = zip(rows["object"], rows["day"], strict=True)
    local = np.array([obj in held_before.get(day, ()) for obj, day in pairs], dtype=bool)
    trace = simulator.Trace.from_arrays(
        rows["t"].to_numpy(), rows["object"].to_numpy(), rows["bytes"].to_numpy()
    )
    charge = [edges.cache_charge(int(b), header, block) for b in rows["bytes"]]
    times, limits = managers.sweeps(edge_id, float(rows["t"].max()) + 1.0)
    limits = [m // block * block for m in limits]  # nginx keeps max_size in whole blocks
    walks = managers.walks(edge_id)
    rank = walk_rank(["/" + str(k) for k in trace.labels]) if walks and walk_rank else None
    hit = simulator.replay_swept(
        trace, times, limits, stored=charge, local=local,
        walk_times=walks if rank is not None else (), walk_rank=rank,
    )  # fmt: skip
    out: dict[int, float | None] = {}
    for d in days:
        mask = (rows["day"].to_numpy() == d.index) & rows["segment"].to_numpy()
        total = trace.sizes[mask].sum()
        out[d.index] = float(trace.sizes[hit & mask].sum() / total) if total else None
    return out


def measure(
    spark: Any, cfg: Config, days: list[Day], arm: dict[str, list[str]], managers: Managers
) -> dict:
    """Per edge and day from edge_requests, beside the simulator's prediction for that day."""
    from vodlake.delivery import edges

    df = edge_rows(spark, cfg)
    df = df[df["t"] >= days[0].started].copy()  # the edges started fresh just before day 1
    df["day"] = [day_of(t, days) for t in df["t"]]
    df["object"] = df["path"].str.split("?").str[0].str.lstrip("/")
    df["hit_bytes"] = df["bytes"].where(df["segment"] & df["cache_status"].isin(HIT), 0)
    # the fill of night k is ready for day k + 1
    fills = {(r["edge_id"], d.index + 1): r["moved_bytes"] for d in days for r in d.fill}
    table = []
    for e in cfg.topology.edges:
        lay = edges.layout(cfg, e.id)
        which = "prefill" if e.id in arm["prefill"] else "pull"
        sim = simulate_edge(
            df[df["edge_id"] == e.id], days, e.id, managers,
            edges.cache_header_bytes(lay), edges.cache_block_bytes(lay),
            lambda uris, lay=lay: edges.cache_walk_ranks(lay, uris),
        )  # fmt: skip
        mine = df[df["edge_id"] == e.id]
        for d in days:
            every = mine[mine["day"] == d.index]
            rows = every[every["segment"]]
            served = int(rows["bytes"].sum())
            synthetic = int(
                rows.loc[rows["object"].str.startswith(SYNTHETIC_OBJECTS), "bytes"].sum()
            )
            table.append(
                {
                    "edge_id": e.id,
                    "arm": which,
                    "day": d.index,
                    "date": d.date.isoformat(),
                    "requests": len(rows),
                    "bytes": served,
                    "synthetic_bytes": synthetic,
                    "byte_hit_ratio": float(rows["hit_bytes"].sum() / served) if served else None,
                    "origin_bytes": int(every["upstream_bytes"].sum()),
                    "fill_bytes": fills.get((e.id, d.index), 0),
                    "sim_byte_hit_ratio": sim[d.index],
                }
            )
    return {"edges": table, "rows": len(df)}


def arm_totals(table: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, float]]:
    """Byte hit ratio per (day, arm), and the simulator's, weighted by bytes."""
    out: dict[tuple[int, str], dict[str, float]] = {}
    for r in table:
        acc = out.setdefault((r["day"], r["arm"]), {"bytes": 0, "hit": 0.0, "sim": 0.0})
        acc["bytes"] += r["bytes"]
        acc["hit"] += (r["byte_hit_ratio"] or 0) * r["bytes"]
        acc["sim"] += (r["sim_byte_hit_ratio"] or 0) * r["bytes"]
    return {
        k: {
            "bytes": v["bytes"],
            "byte_hit_ratio": v["hit"] / v["bytes"] if v["bytes"] else None,
            "sim_byte_hit_ratio": v["sim"] / v["bytes"] if v["bytes"] else None,
        }
        for k, v in out.items()
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f}%"


def render(result: dict[str, Any]) -> str:
    """The loop's table: per edge and day, per arm, QoE, and measured vs simulator."""
    cat = result["catalog"]
    lines = [
        f"vodlake loop run {result['run']}: prefill arm {','.join(result['arms']['prefill'])};"
        f" pull-through arm {','.join(result['arms']['pull'])}",
        "segment byte hit ratio measured from the edge logs (X-Cache PREFILL/HIT) beside the"
        " cache simulator's prediction for the same request sequence (nginx's cache as deployed)",
        f"catalog: {cat['real']} real transcoded titles + {cat['synthetic']} SYNTHETIC load titles"
        f" (random bytes, segment-sized; `synth` = their share of an edge's segment bytes);"
        f" every edge holds {result['capacity_bytes']:,} B (prefill store + cache on prefill"
        f" edges, cache only on pull-through edges)",
        f"{'day':<4}{'date':<11} {'edge':<16}{'arm':<8}{'segments':>9}{'bytes':>13}"
        f"{'measured':>9}{'predicted':>10}{'diff pt':>8}{'origin B':>13}{'fill B':>13}"
        f"{'synth':>7}",
    ]
    for r in result["edges"]:
        sim, bhr = r["sim_byte_hit_ratio"], r["byte_hit_ratio"]
        diff = f"{100 * (bhr - sim):+7.1f}" if sim is not None and bhr is not None else "-"
        synth = r["synthetic_bytes"] / r["bytes"] if r["bytes"] else None
        lines.append(
            f"{r['day']:<4}{r['date']:<11} {r['edge_id']:<16}{r['arm']:<8}{r['requests']:>9,}"
            f"{r['bytes']:>13,}{_pct(bhr):>9}{_pct(sim):>10}{diff:>8}{r['origin_bytes']:>13,}"
            f"{r['fill_bytes']:>13,}{_pct(synth):>7}"
        )
    for day, held in sorted(result.get("prefill_held", {}).items()):
        if held:
            stores = ", ".join(f"{e} {b:,} B" for e, b in sorted(held.items()))
            lines.append(
                f"prefill stores after night {day}: {stores}"
                f" (room {result['prefill_room_bytes']:,} B = capacity - cache floor)"
            )
    lines.append("per arm (bytes-weighted):")
    for (day, which), v in sorted(result["arms_total"].items()):
        q = result["qoe"].get((day, which), {})
        lines.append(
            f"  day {day} {which:<8} byte hit measured {_pct(v['byte_hit_ratio'])}"
            f"  predicted {_pct(v['sim_byte_hit_ratio'])}"
            f"  startup p50 {q.get('startup_p50_ms', '-')} ms"
            f"  rebuffer {q.get('rebuffer_s', '-')} s"
        )
    for d in result["players"]:
        lines.append(
            f"  day {d['day']} players: {d['sessions']} sessions, {d['failed_sessions']} failed,"
            f" startup p50/p95 {d['startup_p50_s']}/{d['startup_p95_s']} s,"
            f" rebuffer ratio {d['rebuffer_ratio']}"
        )
    return "\n".join(lines)


def run(spark: Any, cfg: Config, size: LoopSize, run_no: int | None = None, log: Log = print):
    """The closed loop in its own namespace; returns the figures (see `render`)."""
    from vodlake.delivery import edges, players
    from vodlake.services.steering import SteeringService

    if size.days < 2:
        raise VodlakeError("--days must be at least 2", hint="day 1 is cold; the fill needs it")
    base = loop_config(cfg, speed=size.speed)
    catalog = ensure_catalog(spark, base, size, log)
    capacity = max(1, int(catalog["bytes"] * size.capacity_share))
    if capacity < 4 * edges.MIN_CACHE_BYTES:
        raise VodlakeError(
            f"edge capacity {capacity:,} B is below 4x the cache floor"
            f" ({edges.MIN_CACHE_BYTES:,} B): the A/B would measure the floor",
            hint="raise --capacity-share or --synthetic",
        )
    run_no = run_no or next_run(base)
    lcfg = run_config(loop_config(cfg, capacity, size.speed), run_no, free_port(), free_port())
    reset(spark, lcfg, run_no - 1)
    arm = arms(lcfg, run_no)
    log(f"run {run_no}: prefill {arm['prefill']}, pull-through {arm['pull']}, "
        f"capacity {capacity:,} B per edge")  # fmt: skip
    today = datetime.now(timezone.utc).date()
    days = [Day(k, today - timedelta(days=size.days - k)) for k in range(1, size.days + 1)]
    started = edges.up(lcfg, log=lambda _: None)
    managers = Managers()
    managers.note(lcfg)
    steering = SteeringService(lcfg)
    try:
        steering.up()
        time.sleep(lcfg.steering.health_interval_s * 2.5)
        for day in days:
            offset = (day.date - today).days * 86400.0
            log(f"day {day.index} ({day.date}): {size.clients} players, {size.minutes} min")
            day.started = time.time()
            # one seed, its day k: tomorrow's popularity is today's, drifted (another seed per
            # day would rank the titles anew each day, and no forecast could be right)
            day.players = players.watch(
                lcfg, size.clients, size.minutes, size.seed * 100,
                clock_offset_s=offset, day=day.index - 1,
            )  # fmt: skip
            day.ended = time.time()
            ingest_day(spark, lcfg, log)
            if day.index < size.days:
                night(spark, lcfg, day, arm["prefill"], log)
                time.sleep(lcfg.steering.health_interval_s * 2.5)  # inventories polled
                managers.note(lcfg)  # the fill reloaded the prefill edges: new max_size
        measured = measure(spark, lcfg, days, arm, managers)
        isp_arm = {
            e.isp: ("prefill" if e.id in arm["prefill"] else "pull") for e in lcfg.topology.edges
        }
        qoe = qoe_by_arm(spark, lcfg, days, isp_arm)
    finally:
        steering.down()
        edges.down(lcfg, started or None)
        shutil.rmtree(steering.state, ignore_errors=True)
    return {
        "run": run_no,
        "days": size.days,
        "arms": arm,
        "capacity_bytes": capacity,
        "catalog": catalog,
        "edges": measured["edges"],
        "arms_total": arm_totals(measured["edges"]),
        "qoe": qoe,
        "players": [{"day": d.index, **d.players} for d in days],
        # storage fairness: what each prefill edge's store held after each night (<= the room)
        "prefill_held": {d.index: {e: sum(f.values()) for e, f in d.held.items()} for d in days},
        "prefill_room_bytes": edges.prefill_room(lcfg.topology.edges[0]),
    }


def to_json(result: dict[str, Any]) -> str:
    out = dict(result)
    out["arms_total"] = {f"{d}:{a}": v for (d, a), v in result["arms_total"].items()}
    out["qoe"] = {f"{d}:{a}": v for (d, a), v in result["qoe"].items()}
    out["prefill_held"] = {str(d): v for d, v in result["prefill_held"].items()}
    return json.dumps(out, default=str)
