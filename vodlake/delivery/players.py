"""Players that really watch: aiohttp clients asking steering and fetching HLS through edges.

Why: telemetry that a generator makes up says nothing about what edges do. These players
produce the real thing: each session binds its sockets to an address inside its ISP's announced
prefix (any 127.x.y.z works on loopback, so steering sees a peer address it can place), has a
last-mile bandwidth drawn from a lognormal and enforced on the client side (reads are paced),
picks a title by the same popularity model as the playback generator (Zipf, drift, releases,
diurnal populations: the generator's own session starts are reused), asks steering, loads the
master and media playlists and plays:

- a buffer; playback starts once the first segment is in; a stall when the buffer runs dry;
- adaptive bitrate as dash.js does it: below `players.bola_buffer_s` of buffer the throughput
  rule (mean of the last segments' throughput x `safety_factor`), above it BOLA;
- each segment request carries CMCD (`CMCD=br=..,sid=".."`, plus plain `sid`/`br` arguments for
  edge logs that read query arguments);
- an error, a non-200, or no progress for `stall_timeout_s` fails over to the next URL of the
  steering answer; when all are used up, steering is asked again once; only then the session
  fails;
- abandonment drawn as in the generator (early quitters, mid watchers, finishers).

The edge that really served each chunk (`X-Edge`) and its cache status (`X-Cache`) go into the
playback events sent to Kafka (the `playback` schema): PREFILL/HIT are "hit", anything else
"miss"; a chunk the origin served has no edge_id. Time: `players.speed` media seconds pass per
wall second and bandwidth scales with it, so a longer viewing fits a bounded run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import queue
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from random import Random
from typing import Any
from urllib.parse import quote, urljoin

from vodlake.config import Config
from vodlake.errors import ServiceUnavailable, VodlakeError
from vodlake.telemetry import generator as gen

UTC = timezone.utc
HIT_STATUSES = ("PREFILL", "HIT")
_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_BOLA_MIN_BUFFER_S = 10.0  # dash.js MINIMUM_BUFFER_S


# ----------------------------------------------------------------------------------------------
# Playlists


@dataclass
class Variant:
    name: str  # the rendition folder, e.g. 360p
    bandwidth: int  # bits per second used by ABR (AVERAGE-BANDWIDTH when given)
    url: str
    init_url: str | None = None
    segments: list[tuple[str, float]] = field(default_factory=list)  # (url, seconds)


def parse_master(text: str, url: str) -> list[Variant]:
    """Video variants of an HLS master playlist, lowest bandwidth first."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise VodlakeError(f"{url} is not an HLS playlist")
    out = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(_ATTR.findall(line.split(":", 1)[1]))
            bw = int(attrs.get("AVERAGE-BANDWIDTH") or attrs.get("BANDWIDTH") or 0)
            uri = lines[i + 1]
            out.append(Variant(uri.split("/", 1)[0], bw, urljoin(url, uri)))
    if not out:
        raise VodlakeError(f"{url} names no variant stream")
    return sorted(out, key=lambda v: v.bandwidth)


def parse_media(text: str, variant: Variant) -> None:
    """Fill a variant's init segment and (url, duration) segments from its media playlist."""
    duration = None
    for line in (ln.strip() for ln in text.splitlines()):
        if line.startswith("#EXT-X-MAP:"):
            uri = dict(_ATTR.findall(line.split(":", 1)[1])).get("URI", "").strip('"')
            variant.init_url = urljoin(variant.url, uri)
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            variant.segments.append((urljoin(variant.url, line), duration))
            duration = None
    if not variant.segments:
        raise VodlakeError(f"{variant.url} lists no segment")


# ----------------------------------------------------------------------------------------------
# ABR (dash.js rules)


def throughput_rule(variants: list[Variant], estimate_bps: float | None, safety: float) -> int:
    """The highest rung whose bandwidth fits the throughput estimate times the safety factor."""
    if not estimate_bps:
        return 0
    best = 0
    for i, v in enumerate(variants):
        if v.bandwidth <= estimate_bps * safety:
            best = i
    return best


def bola_rule(variants: list[Variant], buffer_s: float, buffer_target_s: float) -> int:
    """BOLA as dash.js parameterises it: utilities ln(bitrate) shifted to start at 1.

    dash.js's minimum buffer is 10 s; a smaller target buffer scales it down (a third of it)."""
    rates = [max(1, v.bandwidth) for v in variants]
    utils = [math.log(r) - math.log(rates[0]) + 1 for r in rates]
    min_buffer = min(_BOLA_MIN_BUFFER_S, buffer_target_s / 3)
    if len(rates) == 1 or buffer_target_s <= min_buffer:
        return 0
    gp = (utils[-1] - 1) / (buffer_target_s / min_buffer - 1)
    vp = min_buffer / gp
    scores = [(vp * (u + gp) - buffer_s) / r for u, r in zip(utils, rates, strict=True)]
    return max(range(len(rates)), key=lambda i: scores[i])


def bola_entry_buffer(variants: list[Variant], rung: int, buffer_target_s: float) -> float:
    """The lowest buffer level at which BOLA picks `rung` or higher.

    dash.js adds a "placeholder" buffer when it hands over from the throughput rule to BOLA, so
    BOLA starts from the quality the throughput rule reached instead of dropping back while the
    buffer is still mid-way (BOLA's known start-up oscillation)."""
    level = 0.0
    while level < buffer_target_s and bola_rule(variants, level, buffer_target_s) < rung:
        level += 0.25
    return level


# ----------------------------------------------------------------------------------------------
# Sessions


@dataclass(frozen=True)
class SessionSpec:
    """Who watches what: drawn by the playback generator's popularity and population model."""

    user_id: str
    device: str
    region: str
    isp: str
    video_id: str
    user_idx: int
    seed: int


def session_specs(
    cfg: Config, titles: list[dict[str, Any]], seed: int, day: int = 0
) -> Iterator[SessionSpec]:
    """Endless session specs in the generator's order (its 'start' events, one day after another).

    The generator gets the real ready titles with one chunk each: only title, population, user
    and device choices are taken from it, so the chunk layout does not matter here. `day` is the
    generator's day to start from: one seed is one popularity model (its Zipf ranking, then the
    day-to-day drift), so day k+1 of a seed is tomorrow of day k (`vodlake loop` plays its days
    so); another seed is another ranking of the titles. Day d's sessions are the start events
    of the generator's UTC day d.
    """
    catalog = [
        gen.CatalogVideo(t["video_id"], t.get("title") or t["video_id"], 4.0, 4.0, None, {"r": [1]})
        for t in titles
    ]
    rng = Random(seed if day == 0 else f"{seed}:{day}")
    block = day
    while True:
        begin = gen.format_event_time(
            int((gen.DEFAULT_START + timedelta(days=block)).timestamp() * 1000)
        )
        events = gen.generate(catalog, cfg.topology, block + 1, 512, seed, gen.DEFAULT_START)
        starts = [ev for ev in events if ev["event_type"] == "start" and ev["event_time"] >= begin]
        rng.shuffle(starts)  # the day's mix of hours and regions, not its first hours only
        for ev in starts:
            idx = int(ev["user_id"].rsplit("-", 1)[1])
            yield SessionSpec(
                ev["user_id"], ev["device"], ev["region"], ev["isp"], ev["video_id"], idx,
                rng.getrandbits(63),
            )  # fmt: skip
        block += 1


def client_address(cfg: Config, region: str, isp: str, user_idx: int) -> str:
    """An address inside the population's first announced prefix (127.0.0.1 if none)."""
    for pop in cfg.topology.populations:
        if pop.region == region and pop.isp == isp and pop.prefixes:
            net = ipaddress.ip_network(pop.prefixes[0], strict=False)
            hosts = max(1, net.num_addresses - 2)
            return str(net.network_address + 1 + user_idx % hosts)
    return "127.0.0.1"


def watch_seconds(rng: Random, full_s: float, params: gen.SimParams) -> float:
    """How long this viewer stays: the generator's abandonment mixture."""
    u = rng.random()
    if u < params.early_quit_share:
        return min(params.early_quit_cap_s, rng.expovariate(1.0 / params.early_quit_mean_s))
    if u < 1.0 - params.finish_share:
        return params.early_quit_cap_s + rng.random() * max(0.0, full_s - params.early_quit_cap_s)
    return full_s


class SessionFailed(Exception):
    """A session that could not go on; the message is its recorded reason."""


@dataclass
class Stats:
    """Everything the run reports, summed over sessions."""

    sessions: int = 0
    failed: int = 0
    startups: list[float] = field(default_factory=list)
    stall_s: float = 0.0
    play_s: float = 0.0
    bitrate_seconds: float = 0.0  # sum of kbps x media seconds fetched
    fetched_s: float = 0.0
    switches: int = 0
    failovers: int = 0
    chunks: int = 0
    events: int = 0
    bytes_by_edge: Counter[str] = field(default_factory=Counter)
    bytes_by_cache: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)


class Player:
    """One viewing session."""

    def __init__(self, run: Run, spec: SessionSpec) -> None:
        self.run, self.spec, self.cfg = run, spec, run.cfg
        self.rng = Random(spec.seed)
        pc = self.cfg.players
        kbps = pc.bandwidth_median_kbps * math.exp(self.rng.gauss(0.0, pc.bandwidth_sigma))
        self.bandwidth_bps = min(max(kbps, pc.bandwidth_min_kbps), pc.bandwidth_max_kbps) * 1000
        self.address = client_address(self.cfg, spec.region, spec.isp, spec.user_idx)
        self.session_id = str(uuid.uuid4())
        self.candidates: list[dict[str, Any]] = []
        self.at = 0  # index into candidates
        self.buffer_s = 0.0
        self.playing = False
        self.last = time.monotonic()
        self.played_s = 0.0
        self.stall_s = 0.0
        self.pending_stall_s = 0.0
        self.throughputs: list[float] = []

    # -- events ------------------------------------------------------------------------------
    def emit(self, event_type: str, **values: Any) -> None:
        first = next((c["id"] for c in self.candidates if c["kind"] == "edge"), None)
        ev = {
            "event_id": str(uuid.uuid4()),
            "session_id": self.session_id,
            "user_id": self.spec.user_id,
            "device": self.spec.device,
            "client_ip": self.address,
            "region": self.spec.region,
            "isp": self.spec.isp,
            "video_id": self.spec.video_id,
            "rendition": values.get("rendition"),
            "chunk_idx": values.get("chunk_idx"),
            "bytes": values.get("bytes", 0),
            "edge_id": values.get("edge_id", first),
            "cache_status": values.get("cache_status", gen.CACHE_STATUS_UNKNOWN),
            "startup_ms": values.get("startup_ms"),
            "rebuffer_ms": values.get("rebuffer_ms"),
            "event_type": event_type,
            "event_time": gen.format_event_time(
                int((time.time() + self.run.clock_offset_s) * 1000)
            ),
        }
        self.run.send(ev)

    # -- clock and buffer ----------------------------------------------------------------------
    def advance(self) -> None:
        now = time.monotonic()
        media = (now - self.last) * self.cfg.players.speed
        self.last = now
        if not self.playing:
            return
        if media <= self.buffer_s:
            self.buffer_s -= media
            self.played_s += media
        else:
            self.played_s += self.buffer_s
            self.stall_s += media - self.buffer_s
            self.pending_stall_s += media - self.buffer_s
            self.buffer_s = 0.0

    # -- HTTP ----------------------------------------------------------------------------------
    async def steer(self, http: Any) -> None:
        import aiohttp

        url = f"{self.run.steering_url}/v1/steer?video_id={quote(self.spec.video_id)}"
        timeout = aiohttp.ClientTimeout(total=self.cfg.players.steer_timeout_s)
        try:
            async with http.get(url, timeout=timeout) as resp:
                doc = await resp.json(content_type=None)
                if resp.status != 200:
                    raise SessionFailed(f"steering answered {resp.status}: {doc.get('error')}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise SessionFailed(
                f"steering unreachable at {self.run.steering_url} ({type(exc).__name__})"
            ) from None
        self.candidates = [c for c in doc["urls"] if c.get("base_url")]
        self.at = 0
        if not self.candidates:
            raise SessionFailed("steering named no URL")

    def _url(self, rel: str) -> str:
        return f"{self.candidates[self.at]['base_url']}/videos/{rel}"

    async def fetch(
        self, http: Any, rel: str, pace: bool = False, query: str = ""
    ) -> tuple[bytes, dict[str, str], float]:
        """GET videos/<rel> from the current candidate, failing over on error or stall."""
        resteered = False
        while True:
            if self.at >= len(self.candidates):
                if resteered:
                    raise SessionFailed(f"every URL failed for {rel}")
                await self.steer(http)
                resteered = True
            try:
                return await self._get(http, self._url(rel) + query, pace)
            except Exception as exc:  # any failure of this URL: the next one (not cancellation)
                self.run.stats.failovers += 1
                self.run.note(f"failover from {self.candidates[self.at]['id']}: {exc}")
                self.at += 1

    async def _get(self, http: Any, url: str, pace: bool) -> tuple[bytes, dict[str, str], float]:
        import aiohttp

        pc = self.cfg.players
        timeout = aiohttp.ClientTimeout(total=pc.request_timeout_s, sock_read=pc.stall_timeout_s)
        started = time.monotonic()
        rate = self.bandwidth_bps * pc.speed / 8  # bytes per wall second
        async with http.get(url, timeout=timeout) as resp:
            if resp.status != 200:
                raise SessionFailed(f"{url} answered {resp.status}")
            parts, got = [], 0
            async for chunk in resp.content.iter_chunked(64 * 1024):
                parts.append(chunk)
                got += len(chunk)
                if pace:
                    ahead = started + got / rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            headers = {k: resp.headers.get(k, "") for k in ("X-Edge", "X-Cache")}
        return b"".join(parts), headers, time.monotonic() - started

    # -- play ----------------------------------------------------------------------------------
    async def play(self, deadline: float) -> None:
        import aiohttp

        stats = self.run.stats
        pc = self.cfg.players
        started = time.monotonic()
        connector = aiohttp.TCPConnector(local_addr=(self.address, 0), limit=2)
        async with aiohttp.ClientSession(connector=connector) as http:
            await self.steer(http)
            vid = self.spec.video_id
            master_rel = f"{vid}/" + self.candidates[0]["hls_url"].split(f"/videos/{vid}/", 1)[1]
            body, _, _ = await self.fetch(http, master_rel)
            base = self._url("")
            variants = parse_master(body.decode(), self._url(master_rel))
            cap = SIM.device_cap_kbps.get(self.spec.device)
            if cap is not None:
                variants = [v for v in variants if v.bandwidth <= cap * 1100] or variants[:1]
            loaded: set[str] = set()

            async def ensure(v: Variant) -> None:
                if v.name in loaded:
                    return
                text, _, _ = await self.fetch(http, v.url[len(base) :])
                parse_media(text.decode(), v)
                if v.init_url:
                    await self.fetch(http, v.init_url[len(base) :])
                loaded.add(v.name)

            rung = 0
            await ensure(variants[rung])
            n = len(variants[0].segments)
            full_s = sum(d for _, d in variants[0].segments)
            target_s = watch_seconds(self.rng, full_s, SIM)
            buffer_target = pc.max_buffer_s
            placeholder: float | None = None  # BOLA's placeholder buffer while BOLA decides
            for k in range(n):
                self.advance()
                if time.monotonic() >= deadline or self.played_s >= target_s:
                    break
                if k:
                    est = sum(self.throughputs[-4:]) / len(self.throughputs[-4:])
                    by_throughput = throughput_rule(variants, est, pc.safety_factor)
                    if self.buffer_s < pc.bola_buffer_s:
                        new, placeholder = by_throughput, None
                    else:
                        if placeholder is None:  # hand-over to BOLA: keep the current quality
                            entry = bola_entry_buffer(variants, rung, buffer_target)
                            placeholder = max(0.0, entry - self.buffer_s)
                        new = bola_rule(variants, self.buffer_s + placeholder, buffer_target)
                        if new > rung:  # BOLA-O: no up-switch beyond what throughput carries
                            new = max(rung, min(new, by_throughput))
                    if new != rung:
                        stats.switches += 1
                        rung = new
                        await ensure(variants[rung])
                v = variants[rung]
                seg_url, seg_s = v.segments[min(k, len(v.segments) - 1)]
                kbps = max(1, round(v.bandwidth / 1000))
                cmcd = quote(f'br={kbps},sid="{self.session_id}"', safe="")
                query = f"?CMCD={cmcd}&sid={self.session_id}&br={kbps}"
                data, headers, took = await self.fetch(http, seg_url[len(base) :], True, query)
                self.advance()
                self.throughputs.append(len(data) * 8 / max(took * pc.speed, 1e-6))
                self.buffer_s += seg_s
                stats.bitrate_seconds += kbps * seg_s
                stats.fetched_s += seg_s
                edge = headers["X-Edge"] or None
                status = headers["X-Cache"].upper() or ("ORIGIN" if edge is None else "UNKNOWN")
                stats.bytes_by_edge[edge or "origin"] += len(data)
                stats.bytes_by_cache[status] += len(data)
                stats.chunks += 1
                if not self.playing:
                    self.playing = True
                    startup_s = (time.monotonic() - started) * pc.speed
                    stats.startups.append(startup_s)
                    self.emit("start", rendition=v.name, startup_ms=round(startup_s * 1000))
                self.emit(
                    "chunk",
                    rendition=v.name,
                    chunk_idx=k,
                    bytes=len(data),
                    edge_id=edge,
                    cache_status="hit" if status in HIT_STATUSES else "miss",
                    rebuffer_ms=round(self.pending_stall_s * 1000),
                )
                self.pending_stall_s = 0.0
                # a full buffer: wait until a segment's worth has played
                room = self.buffer_s - (buffer_target - seg_s)
                if room > 0:
                    await asyncio.sleep(min(room / pc.speed, max(0.0, deadline - time.monotonic())))
            # play out what is buffered (up to the abandonment point or the deadline)
            self.advance()
            rest = min(self.buffer_s, max(0.0, target_s - self.played_s))
            await asyncio.sleep(min(rest / pc.speed, max(0.0, deadline - time.monotonic())))
            self.advance()
        self.emit("stop", rendition=variants[rung].name)


SIM = gen.SimParams()


class Run:
    """N clients watching session after session until the wall-clock deadline."""

    def __init__(
        self,
        cfg: Config,
        steering_url: str,
        titles: list[dict[str, Any]],
        seed: int,
        clock_offset_s: float = 0.0,
        day: int = 0,
    ):
        self.cfg = cfg
        # added to the wall clock when stamping event_time: `vodlake loop` plays "day 1" of a
        # compressed run on an earlier date, so the nightly chain of that date reads its events
        self.clock_offset_s = clock_offset_s
        self.steering_url = steering_url.rstrip("/")
        self.specs = session_specs(cfg, titles, seed, day)
        self.stats = Stats()
        self.notes: Counter[str] = Counter()
        self.outbox: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def send(self, event: dict[str, Any]) -> None:
        self.stats.events += 1
        self.outbox.put(event)

    def note(self, text: str) -> None:
        self.notes[re.sub(r"https?://\S+", "<url>", text)[:160]] += 1

    async def client(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            player = Player(self, next(self.specs))
            self.stats.sessions += 1
            try:
                await player.play(deadline)
            except SessionFailed as exc:
                self.stats.failed += 1
                self.stats.failures[str(exc)[:160]] += 1
                player.emit("error")
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            except asyncio.CancelledError:
                player.emit("stop")
                raise
            finally:
                self.stats.stall_s += player.stall_s
                self.stats.play_s += player.played_s

    async def main(self, clients: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        tasks = [asyncio.create_task(self.client(deadline)) for _ in range(clients)]
        grace = self.cfg.players.request_timeout_s + 5
        done, pending = await asyncio.wait(tasks, timeout=seconds + grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def summary(stats: Stats, wall_s: float, cpu_s: float) -> dict[str, Any]:
    played = stats.play_s
    return {
        "sessions": stats.sessions,
        "failed_sessions": stats.failed,
        "startup_p50_s": _percentile(stats.startups, 0.5),
        "startup_p95_s": _percentile(stats.startups, 0.95),
        "rebuffer_ratio": round(stats.stall_s / (stats.stall_s + played), 4) if played else None,
        "mean_bitrate_kbps": round(stats.bitrate_seconds / stats.fetched_s)
        if stats.fetched_s
        else None,
        "switches": stats.switches,
        "failovers": stats.failovers,
        "chunks": stats.chunks,
        "events_sent": stats.events,
        "bytes_by_edge": dict(sorted(stats.bytes_by_edge.items())),
        "bytes_by_cache_status": dict(sorted(stats.bytes_by_cache.items())),
        "failures": dict(stats.failures.most_common(10)),
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
    }


def _get_json(url: str, timeout: float) -> Any:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def watch(
    cfg: Config,
    clients: int,
    minutes: float,
    seed: int,
    steering_url: str | None = None,
    topic: str | None = None,
    kafka: bool = True,
    clock_offset_s: float = 0.0,
    day: int = 0,
) -> dict[str, Any]:
    """Run `clients` players for `minutes` of wall time; return the summary.

    `clock_offset_s` shifts the events' event_time (not the edges' logs) by that many seconds;
    `day` is the day of the seed's popularity model the sessions are drawn from.
    """
    from vodlake.lake import kafka_io

    if clients < 1 or minutes <= 0:
        raise VodlakeError("--clients must be >= 1 and --minutes > 0")
    url = steering_url or f"http://{cfg.steering.host}:{cfg.steering.port}"
    try:
        titles = _get_json(f"{url}/v1/catalog", cfg.players.steer_timeout_s)
    except OSError as exc:
        raise ServiceUnavailable(
            f"steering is not reachable at {url} ({exc})",
            hint="start it with `vodlake steering start` (or pass --steering URL)",
        ) from None
    if not titles:
        raise VodlakeError("steering knows no ready title", hint="upload and transcode a video")
    run = Run(cfg, url, titles, seed, clock_offset_s, day)
    topic = topic or cfg.kafka.topics.playback
    sender: threading.Thread | None = None
    produced: list[int] = []
    errors: list[BaseException] = []
    if kafka:
        kafka_io.ensure_topic(cfg, topic)

        def pump() -> None:
            try:
                records = iter(run.outbox.get, None)
                produced.append(kafka_io.produce(cfg, topic, records, key="session_id"))
            except BaseException as exc:  # reported after the run
                errors.append(exc)

        sender = threading.Thread(target=pump, name="playback-events", daemon=True)
        sender.start()
    wall0, cpu0 = time.monotonic(), time.process_time()
    try:
        asyncio.run(run.main(clients, minutes * 60))
    finally:
        run.outbox.put(None)
        if sender is not None:
            sender.join(timeout=120)
    out = summary(run.stats, time.monotonic() - wall0, time.process_time() - cpu0)
    out["events_acked"] = produced[0] if produced else 0
    out["notes"] = dict(run.notes.most_common(10))
    if errors:
        raise VodlakeError(f"playback events were not all sent to Kafka: {errors[0]}")
    return out
