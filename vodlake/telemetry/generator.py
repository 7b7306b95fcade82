"""Synthetic playback telemetry: viewing sessions as start/chunk/stop/error events.

Why: the lake, the streaming jobs and the cache simulator need realistic request streams long
before real clients exist. The realism that matters for edge caching is modelled on purpose:
Zipf-like title popularity that drifts day to day, new-release spikes, evening peaks per region,
early abandonment (early chunks are requested far more often than late ones), adaptive bitrate
capped by device, and steering to the edge inside the client's ISP (where the ISP has several,
the one steering's rendezvous hash picks for the title).

Plain Python (no Spark, no Kafka) so it runs anywhere, is fast to test, and is deterministic:
the same seed, catalog and topology give the identical event sequence (every random draw comes
from a `random.Random` / `numpy.random.Generator` seeded from `seed`; no global RNG, no clock).

The generator does not know what is cached, so `cache_status` is always "unknown": the cache
simulator decides hits and misses when it replays the trace.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import heapq
import itertools
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Any

import numpy as np

from vodlake.config import TopologyConf
from vodlake.delivery.rendezvous import owner
from vodlake.errors import VodlakeError

UTC = timezone.utc
DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)

# Every event carries exactly these keys, in this order.
EVENT_FIELDS: tuple[str, ...] = (
    "event_id",
    "session_id",
    "user_id",
    "device",
    "client_ip",
    "region",
    "isp",
    "video_id",
    "rendition",
    "chunk_idx",
    "bytes",
    "edge_id",
    "cache_status",
    "startup_ms",
    "rebuffer_ms",
    "event_type",
    "event_time",
)
EVENT_TYPES: tuple[str, ...] = ("start", "chunk", "stop", "error")
DEVICES: tuple[str, ...] = ("tv", "mobile", "web", "tablet", "console")
CACHE_STATUS_UNKNOWN = "unknown"
TRACE_HEADER: tuple[str, str, str] = ("time", "object_id", "size")

# The Apple HLS H.264 ladder of conf/base.yaml, as (name, bitrate_kbps).
DEFAULT_LADDER: tuple[tuple[str, int], ...] = (
    ("234p", 145),
    ("360p", 365),
    ("432p", 1100),
    ("540p", 2000),
    ("720p", 4500),
    ("1080p", 7800),
)

# Standard-time offsets of the default topology's regions (November: no daylight saving).
REGION_UTC_OFFSET_HOURS: dict[str, float] = {"us-east": -5.0, "us-west": -8.0, "eu-west": 0.0}

# Relative session starts per local hour 0..23: quiet before dawn, prime time 19-22h.
DIURNAL_WEIGHTS: tuple[float, ...] = (
    0.30, 0.18, 0.10, 0.06, 0.05, 0.05, 0.08, 0.14, 0.20, 0.25, 0.30, 0.35,
    0.42, 0.45, 0.45, 0.48, 0.55, 0.65, 0.80, 0.95, 1.00, 1.00, 0.85, 0.55,
)  # fmt: skip

# IETF documentation prefixes (RFC 5737): never routable, so a client_ip is only ever a label.
_DOC_V4_NETS: tuple[str, ...] = ("192.0.2", "198.51.100", "203.0.113")

_DAY_MS = 86_400_000
# Session numbers leave room for this many chained episodes after each first pick.
_CHAIN = 16
_HOUR_MS = 3_600_000
# Version 4 and the RFC 4122 variant: clear bits 76-79 and 62-63, then set 0100 and 10.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)


@dataclass(frozen=True)
class CatalogVideo:
    """A ready video as the generator needs it: segment sizes per rendition and chunk index."""

    video_id: str
    title: str
    duration_s: float
    segment_seconds: float
    release_day: int | None
    # rendition name -> bytes of each segment, indexed by chunk_idx
    renditions: dict[str, list[int]]
    # What regional tastes and binge viewing key on (None: unknown, no preference applies).
    genre: str | None = None
    language: str | None = None
    series_id: str | None = None
    episode: int | None = None

    def release_at(self, start: datetime = DEFAULT_START) -> datetime | None:
        """When the title launches (its release day's midnight UTC): the release schedule."""
        if self.release_day is None:
            return None
        return start.astimezone(UTC) + timedelta(days=self.release_day)


@dataclass(frozen=True)
class SimParams:
    """Knobs of the behaviour model; the defaults give the realism the tests check."""

    zipf_exponent: float = 0.9
    # Day-to-day popularity drift: AR(1) noise on log-popularity (mean reverting, so the
    # Zipf shape survives long runs while ranks keep shuffling).
    drift_sigma: float = 0.25
    drift_rho: float = 0.9
    # A release adds boost * (weight of the top title) on its day, halving every half-life.
    release_boost: float = 1.0
    release_half_life_days: float = 1.5
    # Abandonment mixture: early quitters (exponential, capped at early_quit_cap_s), mid
    # watchers (uniform between the cap and the end) and finishers (the rest).
    early_quit_share: float = 0.5
    early_quit_mean_s: float = 75.0
    early_quit_cap_s: float = 300.0
    finish_share: float = 0.2
    error_rate: float = 0.02
    startup_error_share: float = 0.25
    rebuffer_rate: float = 0.015
    mobile_rebuffer_rate: float = 0.03
    rebuffer_mean_ms: float = 1200.0
    startup_median_ms: float = 800.0
    startup_sigma: float = 0.5
    device_weights: tuple[float, ...] = (0.38, 0.30, 0.16, 0.10, 0.06)
    # Highest bitrate a device asks for (None = no cap); rungs are compared by measured kbps.
    device_cap_kbps: Mapping[str, float | None] = field(
        default_factory=lambda: {"mobile": 2000.0, "tablet": 4500.0}
    )
    diurnal_weights: tuple[float, ...] = DIURNAL_WEIGHTS
    utc_offsets: Mapping[str, float] = field(default_factory=lambda: dict(REGION_UTC_OFFSET_HOURS))
    # Regional tastes: a title in one of the region's languages weighs exp(regional_preference)
    # times more there; each ISP leans toward some genres (log-weight tilt ~ N(0, this)).
    regional_preference: float = 0.0
    isp_genre_preference: float = 0.0
    region_languages: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(REGION_LANGUAGES)
    )
    # Binge viewing: after an episode the viewer starts the next one with this probability;
    # later episodes of a series are picked less often on their own (people start at episode 1).
    binge_continue: float = 0.0
    episode_decay: float = 0.7
    # Share of sessions that resume a title part-way instead of starting at chunk 0.
    resume_share: float = 0.0


# ----------------------------------------------------------------------------------------------
# Catalog


GENRES: tuple[str, ...] = ("drama", "comedy", "action", "documentary", "kids", "thriller")
LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de")
# Languages each default region prefers (regional_preference boosts these titles there).
REGION_LANGUAGES: dict[str, tuple[str, ...]] = {
    "us-east": ("en",),
    "us-west": ("en", "es"),
    "eu-west": ("fr", "de"),
}

_ADJECTIVES = (
    "Silent", "Crimson", "Hidden", "Last", "Broken", "Golden", "Distant", "Frozen", "Electric",
    "Midnight", "Wild", "Hollow", "Burning", "Quiet", "Lost", "Iron",
)  # fmt: skip
_NOUNS = (
    "Harbor", "Signal", "Kingdom", "Orchard", "Frontier", "Circuit", "Garden", "Voyage", "Empire",
    "Canyon", "Archive", "Tide", "Station", "Summit", "Lantern", "Delta",
)  # fmt: skip


def synthetic_catalog(
    n_videos: int,
    seed: int,
    ladder: Sequence[tuple[str, int]] = DEFAULT_LADDER,
    segment_seconds: float = 4,
    *,
    release_fraction: float = 0.05,
    release_days: int = 14,
    series_share: float = 0.0,
) -> list[CatalogVideo]:
    """A made-up catalog for when the real one has no ready videos yet.

    Durations mix short clips (30 s-5 min), episodes (20-60 min) and films (80-120 min).
    Segment bytes are bitrate * seconds / 8 times a per-chunk scene complexity shared by all
    renditions and a little per-rendition noise, so sizes vary like real VBR segments.
    `release_fraction` of the titles get a release_day in [0, release_days). Every title gets a
    genre and a language; ``series_share`` of the episode-length titles are grouped, in catalog
    order, into series of 3-8 episodes (watched in order when SimParams.binge_continue > 0).
    """
    if n_videos < 1:
        raise VodlakeError(f"n_videos must be at least 1 (got {n_videos})")
    if segment_seconds <= 0:
        raise VodlakeError(f"segment_seconds must be positive (got {segment_seconds})")
    if not ladder:
        raise VodlakeError("the ladder is empty", hint="pass ((name, bitrate_kbps), ...)")
    names = [name for name, _ in ladder]
    if len(set(names)) != len(names):
        raise VodlakeError(f"duplicate rendition names in the ladder: {names}")
    for name, kbps in ladder:
        if kbps <= 0:
            raise VodlakeError(f"rendition {name!r} has bitrate {kbps} kbps; it must be positive")
    if not 0 <= release_fraction <= 1:
        raise VodlakeError(f"release_fraction must be within [0, 1] (got {release_fraction})")
    if release_days < 1:
        raise VodlakeError(f"release_days must be at least 1 (got {release_days})")

    rng = np.random.default_rng(seed)
    seg = float(segment_seconds)
    kinds = rng.choice(3, size=n_videos, p=[0.3, 0.4, 0.3])
    lows = np.array([30.0, 20 * 60.0, 80 * 60.0])[kinds]
    highs = np.array([300.0, 60 * 60.0, 120 * 60.0])[kinds]
    durations = np.round(rng.uniform(lows, highs), 3)
    released = rng.random(n_videos) < release_fraction
    release_at = rng.integers(0, release_days, size=n_videos)
    title_words = rng.integers(0, len(_ADJECTIVES) * len(_NOUNS), size=n_videos)

    out: list[CatalogVideo] = []
    for i in range(n_videos):
        duration = float(durations[i])
        n_chunks = max(1, math.ceil(duration / seg))
        # Each chunk lasts seg seconds except the last, which holds the remainder.
        chunk_seconds = np.full(n_chunks, seg)
        chunk_seconds[-1] = duration - (n_chunks - 1) * seg
        complexity = rng.lognormal(-(0.25**2) / 2, 0.25, n_chunks)
        renditions: dict[str, list[int]] = {}
        for name, kbps in ladder:
            noise = rng.lognormal(-(0.05**2) / 2, 0.05, n_chunks)
            sizes = kbps * 1000.0 / 8.0 * chunk_seconds * complexity * noise
            renditions[name] = np.maximum(sizes, 1.0).astype(np.int64).tolist()
        adjective, noun = divmod(int(title_words[i]), len(_NOUNS))
        out.append(
            CatalogVideo(
                video_id=f"syn-{seed}-{i:05d}",
                title=f"The {_ADJECTIVES[adjective]} {_NOUNS[noun]} {i}",
                duration_s=duration,
                segment_seconds=seg,
                release_day=int(release_at[i]) if released[i] else None,
                renditions=renditions,
            )
        )
    return _with_attributes(out, kinds, seed, series_share)


def _with_attributes(
    videos: list[CatalogVideo], kinds: np.ndarray, seed: int, series_share: float
) -> list[CatalogVideo]:
    """Genre, language and series from a generator of their own (sizes stay as they were)."""
    if not 0 <= series_share <= 1:
        raise VodlakeError(f"series_share must be within [0, 1] (got {series_share})")
    rng = np.random.default_rng([seed, 1])
    genres = rng.integers(0, len(GENRES), size=len(videos))
    languages = rng.choice(len(LANGUAGES), size=len(videos), p=[0.55, 0.15, 0.15, 0.15])
    in_series = rng.random(len(videos)) < series_share
    out: list[CatalogVideo] = []
    series: list[int] = []
    for i, video in enumerate(videos):
        series_id, episode = None, None
        if kinds[i] == 1 and in_series[i]:
            if not series or len(series) >= 3 + (int(series[0]) * 7919 + seed) % 6:
                series = [i]
            else:
                series.append(i)
            series_id, episode = f"{videos[series[0]].video_id}-series", len(series)
        genre, language = GENRES[int(genres[i])], LANGUAGES[int(languages[i])]
        if episode is not None and episode > 1:  # a series keeps one genre and language
            genre, language = out[series[0]].genre, out[series[0]].language
        out.append(
            dataclasses.replace(
                video,
                genre=genre,
                language=language,
                series_id=series_id,
                episode=episode,
            )
        )
    return out


# The evaluation's default catalog: 300 titles, at most 10 minutes each, 4 s segments, the
# six-rung Apple ladder. About 214k chunk files and 284 GB.
EVAL_TITLES = 300
EVAL_MAX_DURATION_S = 600.0


def short_catalog(
    n_videos: int,
    seed: int,
    *,
    max_duration_s: float = EVAL_MAX_DURATION_S,
    segment_seconds: float = 4.0,
    ladder: Sequence[tuple[str, int]] = DEFAULT_LADDER,
    series_share: float = 0.0,
) -> list[CatalogVideo]:
    """`synthetic_catalog` with every title cut to at most ``max_duration_s``.

    Films of two hours make a catalog of terabytes and sessions of thousands of requests; cut
    short, a few hundred titles replay in seconds while keeping the Zipf popularity, the
    rendition mix and early abandonment that placement is about.
    """
    if max_duration_s <= 0:
        raise VodlakeError(f"max_duration_s must be positive (got {max_duration_s})")
    out = []
    for video in synthetic_catalog(
        n_videos, seed, ladder, segment_seconds, series_share=series_share
    ):
        n_chunks = max(1, math.ceil(min(video.duration_s, max_duration_s) / segment_seconds))
        out.append(
            dataclasses.replace(
                video,
                duration_s=min(video.duration_s, n_chunks * segment_seconds),
                renditions={name: sizes[:n_chunks] for name, sizes in video.renditions.items()},
            )
        )
    return out


def catalog_bytes(catalog: Iterable[CatalogVideo]) -> int:
    """Bytes of every file of every rendition."""
    return sum(sum(sizes) for video in catalog for sizes in video.renditions.values())


def catalog_files(catalog: Iterable[CatalogVideo]) -> int:
    return sum(len(sizes) for video in catalog for sizes in video.renditions.values())


# ----------------------------------------------------------------------------------------------
# Prepared inputs (validated once, laid out for the hot loop)


@dataclass(frozen=True)
class _Video:
    video_id: str
    release_day: int | None
    genre: str | None
    language: str | None
    series_id: str | None
    episode: int | None
    n_chunks: int
    names: tuple[str, ...]  # renditions, lowest bitrate first
    segments: tuple[list[int], ...]  # same order as names
    seg_ms: int
    last_ms: int  # play time of the last chunk
    cap_by_device: dict[str, int]  # highest rung index each device may use


@dataclass(frozen=True)
class _Population:
    region: str
    isp: str
    clients: int
    weight: float
    offset_ms: int
    edge_ids: tuple[str, ...]
    isp_index: int


def _prepare_videos(catalog: Sequence[CatalogVideo], params: SimParams) -> list[_Video]:
    if not catalog:
        raise VodlakeError(
            "the catalog is empty",
            hint="use synthetic_catalog(n_videos, seed) while no real video is ready",
        )
    seen: set[str] = set()
    videos = []
    for video in catalog:
        vid = video.video_id
        if not isinstance(vid, str) or not vid:
            raise VodlakeError(f"catalog entry has no video_id: {video.title!r}")
        if vid in seen:
            raise VodlakeError(f"video_id {vid!r} appears twice in the catalog")
        seen.add(vid)
        if not video.segment_seconds > 0:
            raise VodlakeError(f"video {vid}: segment_seconds must be positive")
        if not video.duration_s > 0:
            raise VodlakeError(f"video {vid}: duration_s must be positive")
        if not video.renditions:
            raise VodlakeError(f"video {vid} has no renditions")
        lengths = {len(sizes) for sizes in video.renditions.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise VodlakeError(
                f"video {vid}: renditions have different or zero chunk counts {sorted(lengths)}",
                hint="every rendition must list one segment size per chunk_idx",
            )
        for name, sizes in video.renditions.items():
            if set(map(type, sizes)) != {int} or min(sizes) <= 0:
                raise VodlakeError(
                    f"video {vid} rendition {name}: segment sizes must be positive ints"
                )
        n_chunks = lengths.pop()
        seg_ms = max(1, round(video.segment_seconds * 1000))
        last_ms = round((video.duration_s - (n_chunks - 1) * video.segment_seconds) * 1000)
        if not 0 < last_ms <= seg_ms:
            last_ms = seg_ms  # duration and chunk count disagree a little: assume a full chunk
        # Order rungs by measured bitrate so "up" and "down" mean what they say.
        ranked = sorted(video.renditions.items(), key=lambda kv: (sum(kv[1]) / n_chunks, kv[0]))
        kbps = [sum(sizes) / n_chunks * 8 / video.segment_seconds / 1000 for _, sizes in ranked]
        caps = {}
        for device in DEVICES:
            cap = params.device_cap_kbps.get(device)
            top = len(ranked) - 1
            if cap is not None:
                top = max(0, bisect.bisect_right(kbps, cap * 1.1) - 1)
            caps[device] = top
        videos.append(
            _Video(
                video_id=vid,
                release_day=video.release_day,
                genre=video.genre,
                language=video.language,
                series_id=video.series_id,
                episode=video.episode,
                n_chunks=n_chunks,
                names=tuple(name for name, _ in ranked),
                segments=tuple(sizes for _, sizes in ranked),
                seg_ms=seg_ms,
                last_ms=last_ms,
                cap_by_device=caps,
            )
        )
    return videos


def _prepare_populations(topology: TopologyConf, params: SimParams) -> list[_Population]:
    if not topology.populations:
        raise VodlakeError("the topology has no populations", hint="see topology in base.yaml")
    if not topology.edges:
        raise VodlakeError("the topology has no edges", hint="see topology in base.yaml")
    isps = list(topology.isps)
    pops = []
    for pop in topology.populations:
        where = f"population {pop.region}/{pop.isp}"
        if topology.regions and pop.region not in topology.regions:
            raise VodlakeError(f"{where}: region not listed in topology.regions")
        if pop.isp not in isps:
            raise VodlakeError(f"{where}: isp not listed in topology.isps")
        if pop.region not in params.utc_offsets:
            raise VodlakeError(
                f"{where}: no UTC offset known for region {pop.region!r}",
                hint="pass SimParams(utc_offsets={...}) with the region's offset in hours",
            )
        # Steering: an edge inside the client's ISP (same region first), else the region's
        # edges, else any edge.
        edges = topology.edges
        candidates = (
            [e for e in edges if e.isp == pop.isp and e.region == pop.region]
            or [e for e in edges if e.isp == pop.isp]
            or [e for e in edges if e.region == pop.region]
            or list(edges)
        )
        pops.append(
            _Population(
                region=pop.region,
                isp=pop.isp,
                clients=pop.clients,
                weight=pop.weight,
                offset_ms=round(params.utc_offsets[pop.region] * _HOUR_MS),
                edge_ids=tuple(e.id for e in candidates),
                isp_index=isps.index(pop.isp),
            )
        )
    return pops


def _client_ip(isp_index: int, user_idx: int) -> str:
    """A per-ISP address inside a documentation prefix (RFC 5737, RFC 3849 beyond six ISPs)."""
    if isp_index < 2 * len(_DOC_V4_NETS):
        net = _DOC_V4_NETS[isp_index // 2]
        low = 1 if isp_index % 2 == 0 else 129
        return f"{net}.{low + user_idx % 126}"
    return f"2001:db8:{isp_index:x}::{user_idx % 0xFFFF + 1:x}"


def _uuid(n: int) -> str:
    """A version-4 UUID string from 128 random bits, so ids look like real ones."""
    h = ((n & _UUID_CLEAR) | _UUID_SET).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_DAY_PREFIX: dict[int, str] = {}
# "HH:MM:SS." for every second of a day and "mmmZ" for every millisecond: two lookups are
# several times cheaper than formatting each field of every event.
_HMS: list[str] = [
    f"{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)
]
_MILLIS_Z: list[str] = [f"{ms:03d}Z" for ms in range(1000)]


def _day_prefix(day: int) -> str:
    """'YYYY-MM-DDT' of a day counted from the epoch (cached: a run spans few days)."""
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%dT")
        _DAY_PREFIX[day] = prefix
    return prefix


def format_event_time(ms: int) -> str:
    """Epoch milliseconds -> '2026-11-01T20:15:03.123Z' (cheaper than datetime formatting)."""
    day, rem = divmod(ms, _DAY_MS)
    second, millis = divmod(rem, 1000)
    return _day_prefix(day) + _HMS[second] + _MILLIS_Z[millis]


_DAY_MS_BY_PREFIX: dict[str, int] = {}


def parse_event_time(text: str) -> int:
    """'2026-11-01T20:15:03.123Z' -> epoch milliseconds; other ISO-8601 forms via datetime."""
    if len(text) == 24 and text[10] == "T" and text[23] == "Z" and text[19] == ".":
        day_ms = _DAY_MS_BY_PREFIX.get(text[:10])
        try:
            if day_ms is None:
                day = datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=UTC)
                day_ms = int(day.timestamp()) * 1000
                _DAY_MS_BY_PREFIX[text[:10]] = day_ms
            return (
                day_ms
                + int(text[11:13]) * _HOUR_MS
                + int(text[14:16]) * 60_000
                + int(text[17:19]) * 1000
                + int(text[20:23])
            )
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        raise VodlakeError(f"event_time {text!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise VodlakeError(f"event_time {text!r} has no time zone", hint="use UTC with a Z")
    return round(parsed.timestamp() * 1000)


# ----------------------------------------------------------------------------------------------
# Sessions


def _session(
    spec: tuple[int, ...],
    video: _Video,
    pop: _Population,
    params: SimParams,
    device_cum: list[float],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """One viewing session's events in time order, each as (epoch_ms, event).

    ``spec``: (start_ms, seq, population, user, video, session seed[, first chunk]); a session
    with a first chunk above 0 resumes the title part-way.
    """
    start_ms, _seq, _pop_idx, user_idx, _video_idx, session_seed = spec[:6]
    first_chunk = spec[6] if len(spec) > 6 else 0
    rng = Random(session_seed)
    rand = rng.random
    bits = rng.getrandbits

    session_id = _uuid(bits(128))
    device = DEVICES[bisect.bisect_right(device_cum, rand() * device_cum[-1], 0, len(DEVICES) - 1)]
    user_id = f"user-{pop.region}-{pop.isp}-{user_idx:07d}"
    client_ip = _client_ip(pop.isp_index, user_idx)
    # as steering does: a site's edges split titles by rendezvous hash (one edge: that one)
    edge_id = pop.edge_ids[0] if len(pop.edge_ids) == 1 else owner(video.video_id, pop.edge_ids)
    names, segments, n_chunks = video.names, video.segments, video.n_chunks
    seg_ms = video.seg_ms
    event = _event_builder(
        session_id, user_id, device, client_ip, pop.region, pop.isp, video.video_id, edge_id
    )

    cap = video.cap_by_device[device]
    rung = min(cap, (len(names) - 1) // 2)  # players start at a middle rung
    # The network's sustainable rung: usually the device cap, sometimes a few rungs lower.
    drop = rand()
    ceiling = max(0, cap - (0 if drop < 0.55 else 1 if drop < 0.8 else 2 if drop < 0.92 else 3))
    target = ceiling  # what the throughput estimate allows right now

    # How far this viewer gets (abandonment mixture), from where the session starts.
    u = rand()
    left = n_chunks - first_chunk
    full_s = (left - 1) * seg_ms / 1000 + video.last_ms / 1000
    if u < params.early_quit_share:
        watch_s = min(params.early_quit_cap_s, rng.expovariate(1.0 / params.early_quit_mean_s))
    elif u < 1.0 - params.finish_share:
        watch_s = params.early_quit_cap_s + rand() * max(0.0, full_s - params.early_quit_cap_s)
    else:
        watch_s = full_s
    n_watch = max(1, min(left, math.ceil(watch_s * 1000 / seg_ms)))
    finished = n_watch == left

    error_at = -2  # chunk index whose request fails; -1 = fails before the first chunk
    if rand() < params.error_rate:
        error_at = -1 if rand() < params.startup_error_share else int(rand() * n_watch)

    startup_ms = min(
        30_000, int(rng.lognormvariate(math.log(params.startup_median_ms), params.startup_sigma))
    )
    rebuffer_rate = params.mobile_rebuffer_rate if device == "mobile" else params.rebuffer_rate
    rebuffer_mean = params.rebuffer_mean_ms
    # Hot-loop locals: the chunk loop inlines _uuid and format_event_time.
    clear, set_bits, hms, millis_z, day_ms = _UUID_CLEAR, _UUID_SET, _HMS, _MILLIS_Z, _DAY_MS
    day, prefix = -1, ""

    t = start_ms
    yield t, event("start", _uuid(bits(128)), format_event_time(t), names[rung], startup_ms)
    if error_at == -1:
        t += 1 + int(rand() * startup_ms)
        yield t, event("error", _uuid(bits(128)), format_event_time(t), names[rung])
        return

    # The first chunk is fetched during startup; later ones one segment apart, later still
    # when the player stalls (the stall is reported on the chunk that arrived late).
    t += max(1, startup_ms // 3)
    for k in range(n_watch):
        rebuffer = 0
        if k:
            if rung < target:
                if rand() < 0.25:
                    rung += 1
            elif rung > target and rand() < 0.5:
                rung -= 1
            if rand() < rebuffer_rate:
                rebuffer = 100 + int(rng.expovariate(1.0 / rebuffer_mean))
                target = max(0, target - 1)
                rung = max(0, rung - 1)
            elif target < ceiling and rand() < 0.05:
                target += 1  # throughput recovered after a stall
            t += seg_ms + rebuffer + int(rand() * 40)
        if k == error_at:
            t += 1
            yield t, event("error", _uuid(bits(128)), format_event_time(t), names[rung])
            return
        h = ((bits(128) & clear) | set_bits).to_bytes(16, "big").hex()
        if t // day_ms != day:
            day = t // day_ms
            prefix = _day_prefix(day)
        second, millis = divmod(t - day * day_ms, 1000)
        chunk = first_chunk + k
        yield (
            t,
            event(
                "chunk",
                f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
                prefix + hms[second] + millis_z[millis],
                names[rung],
                None,
                rebuffer,
                chunk,
                segments[rung][chunk],
            ),
        )
    played = video.last_ms if finished else seg_ms
    t += max(1, played if finished else int(rand() * played))
    yield t, event("stop", _uuid(bits(128)), format_event_time(t), names[rung])


def _event_builder(
    session_id: str,
    user_id: str,
    device: str,
    client_ip: str,
    region: str,
    isp: str,
    video_id: str,
    edge_id: str,
) -> Any:
    """The one place an event's fields are laid out (EVENT_FIELDS order)."""

    def event(
        event_type: str,
        event_id: str,
        event_time: str,
        rendition: str,
        startup_ms: int | None = None,
        rebuffer_ms: int | None = None,
        chunk_idx: int | None = None,
        nbytes: int = 0,
    ) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "session_id": session_id,
            "user_id": user_id,
            "device": device,
            "client_ip": client_ip,
            "region": region,
            "isp": isp,
            "video_id": video_id,
            "rendition": rendition,
            "chunk_idx": chunk_idx,
            "bytes": nbytes,
            "edge_id": edge_id,
            "cache_status": CACHE_STATUS_UNKNOWN,
            "startup_ms": startup_ms,
            "rebuffer_ms": rebuffer_ms,
            "event_type": event_type,
            "event_time": event_time,
        }

    return event


# ----------------------------------------------------------------------------------------------
# The generator


def title_weights(
    videos: Sequence[Any],
    base_logw: Sequence[float],
    drift: Sequence[float],
    day: int,
    params: SimParams,
) -> list[float]:
    """Popularity weight of each video on `day` (unreleased titles get none).

    Zipf base times the day's drift, plus a release spike (boost times the top title's weight,
    halving every half-life). Public for other clients of the same popularity model (players).
    """
    boost = params.release_boost  # times the weight of the top title (exp(0) = 1)
    weights = []
    for video, logw, noise in zip(videos, base_logw, drift, strict=True):
        w = math.exp(logw + noise)
        r = video.release_day
        if r is not None:
            if day < r:
                w = 0.0
            else:
                w += boost * 0.5 ** ((day - r) / params.release_half_life_days)
        weights.append(w)
    return weights


def _day_weights(
    videos: list[_Video],
    base_logw: list[float],
    drift: list[float],
    day: int,
    params: SimParams,
) -> list[float]:
    """Cumulative popularity weights of each video on `day` (unreleased titles get none)."""
    cum = list(itertools.accumulate(title_weights(videos, base_logw, drift, day, params)))
    if cum[-1] <= 0:
        raise VodlakeError(
            f"no video of the catalog is released by day {day}",
            hint="give some videos release_day None or a day within the run",
        )
    return cum


def _taste(
    videos: list[_Video], pops: list[_Population], params: SimParams, seed: int
) -> list[list[float]] | None:
    """Per population, a weight multiplier per video (None when no preference is modelled)."""
    if not params.regional_preference and not params.isp_genre_preference:
        return None
    rng = Random(f"vodlake-playback:{seed}:taste")
    genres = sorted({v.genre for v in videos if v.genre is not None})
    tilt = {
        isp: {g: rng.gauss(0.0, params.isp_genre_preference) for g in genres}
        for isp in sorted({p.isp for p in pops})
    }
    out = []
    for pop in pops:
        liked = params.region_languages.get(pop.region, ())
        factors = []
        for v in videos:
            logf = params.regional_preference if v.language in liked else 0.0
            if v.genre is not None:
                logf += tilt[pop.isp].get(v.genre, 0.0)
            factors.append(math.exp(logf))
        out.append(factors)
    return out


def generate(
    catalog: Sequence[CatalogVideo],
    topology: TopologyConf,
    days: int,
    sessions_per_day: int,
    seed: int,
    start: datetime = DEFAULT_START,
    *,
    params: SimParams | None = None,
) -> Iterator[dict[str, Any]]:
    """Playback events of `days` days, `sessions_per_day` sessions a day, in event_time order.

    Day d is the local calendar date start+d in each client's region: a session's local start
    time follows the diurnal curve, then moves to UTC by the region's offset (so regions east
    of UTC may start before `start`). Inputs are validated here, before the first event.
    """
    params = params or SimParams()
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise VodlakeError(f"days must be a positive int (got {days!r})")
    if isinstance(sessions_per_day, bool) or not isinstance(sessions_per_day, int):
        raise VodlakeError(f"sessions_per_day must be an int (got {sessions_per_day!r})")
    if sessions_per_day < 0:
        raise VodlakeError(f"sessions_per_day must not be negative (got {sessions_per_day})")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise VodlakeError(f"seed must be an int (got {seed!r})")
    if start.tzinfo is None:
        raise VodlakeError("start must be timezone-aware", hint="e.g. datetime(..., tzinfo=UTC)")
    start_utc = start.astimezone(UTC)
    if (start_utc.hour, start_utc.minute, start_utc.second, start_utc.microsecond) != (0,) * 4:
        raise VodlakeError(
            f"start must be a midnight UTC (got {start_utc.isoformat()})",
            hint="days are calendar days; pass the first day at 00:00Z",
        )
    for name, weights, size in (
        ("device_weights", params.device_weights, len(DEVICES)),
        ("diurnal_weights", params.diurnal_weights, 24),
    ):
        if len(weights) != size or min(weights) < 0 or sum(weights) <= 0:
            raise VodlakeError(f"{name} needs {size} non-negative weights, not all zero")
    videos = _prepare_videos(catalog, params)
    if all(v.release_day is not None and v.release_day > 0 for v in videos):
        # A released title stays available, so day 0 is the only day to check.
        raise VodlakeError(
            "no video of the catalog is released on day 0",
            hint="give some videos release_day None or a day <= 0",
        )
    pops = _prepare_populations(topology, params)
    base_ms = round(start_utc.timestamp() * 1000)
    return _merge(videos, pops, days, sessions_per_day, seed, base_ms, params)


def _merge(
    videos: list[_Video],
    pops: list[_Population],
    days: int,
    sessions_per_day: int,
    seed: int,
    base_ms: int,
    params: SimParams,
) -> Iterator[dict[str, Any]]:
    """Interleave all sessions into one stream ordered by event time (ties: session order)."""
    pop_cum = list(itertools.accumulate(p.clients * p.weight for p in pops))
    hour_cum = list(itertools.accumulate(params.diurnal_weights))
    device_cum = list(itertools.accumulate(params.device_weights))
    max_offset_ms = max(p.offset_ms for p in pops)

    pop_rng = Random(f"vodlake-playback:{seed}:popularity")
    ranks = list(range(len(videos)))
    pop_rng.shuffle(ranks)
    base_logw = [-params.zipf_exponent * math.log(rank + 1) for rank in ranks]
    # Episodes share their series' popularity, fewer viewers start at later episodes.
    first_episode = {v.series_id: i for i, v in enumerate(videos) if v.episode == 1}
    next_episode: dict[int, int] = {}
    for i, v in enumerate(videos):
        if v.series_id is not None and v.episode and v.series_id in first_episode:
            head = first_episode[v.series_id]
            base_logw[i] = base_logw[head] + (v.episode - 1) * math.log(params.episode_decay)
    by_episode = {(v.series_id, v.episode): i for i, v in enumerate(videos) if v.series_id}
    for i, v in enumerate(videos):
        if v.series_id is not None and (v.series_id, (v.episode or 0) + 1) in by_episode:
            next_episode[i] = by_episode[(v.series_id, (v.episode or 0) + 1)]
    taste = _taste(videos, pops, params, seed)
    drift = [0.0] * len(videos)

    def day_sessions(day: int) -> list[tuple[int, int, int, int, int, int, int]]:
        nonlocal drift
        if day:
            rho, sigma, gauss = params.drift_rho, params.drift_sigma, pop_rng.gauss
            drift = [rho * x + gauss(0.0, sigma) for x in drift]
        video_cum = _day_weights(videos, base_logw, drift, day, params)
        cums = [video_cum] * len(pops)
        if taste is not None:
            weights = title_weights(videos, base_logw, drift, day, params)
            cums = [
                list(itertools.accumulate(w * f for w, f in zip(weights, factors, strict=True)))
                for factors in taste
            ]
        rng = Random(f"vodlake-playback:{seed}:day:{day}")
        rand = rng.random
        day_ms = base_ms + day * _DAY_MS
        last_pop, last_video = len(pops) - 1, len(videos) - 1
        specs = []
        for k in range(sessions_per_day):
            p = bisect.bisect_right(pop_cum, rand() * pop_cum[-1], 0, last_pop)
            hour = bisect.bisect_right(hour_cum, rand() * hour_cum[-1], 0, 23)
            local_ms = hour * _HOUR_MS + int(rand() * _HOUR_MS)
            cum = cums[p]
            v = bisect.bisect_right(cum, rand() * cum[-1], 0, last_video)
            user_idx = int(rand() * pops[p].clients)
            seq = (day * sessions_per_day + k) * _CHAIN
            at = day_ms + local_ms - pops[p].offset_ms
            first_chunk = 0
            if params.resume_share and rand() < params.resume_share:
                first_chunk = int(rand() * videos[v].n_chunks)
            specs.append((at, seq, p, user_idx, v, rng.getrandbits(64), first_chunk))
            # Binge: the next episodes follow in order, each after the previous one's length.
            j = 1
            while params.binge_continue and v in next_episode and j < _CHAIN:
                if rand() >= params.binge_continue:
                    break
                video = videos[v]
                at += (video.n_chunks - 1) * video.seg_ms + video.last_ms + int(rand() * 120_000)
                v = next_episode[v]
                specs.append((at, seq + j, p, user_idx, v, rng.getrandbits(64), 0))
                j += 1
        specs.sort()
        return specs

    inf = float("inf")
    pending: list[tuple[int, int, int, int, int, int, int]] = []
    pi = 0
    next_day = 0
    # Day d's earliest possible session start (its local midnight in the easternmost region).
    next_day_lb: float = base_ms - max_offset_ms
    heap: list[tuple[int, int, dict[str, Any], Iterator[tuple[int, dict[str, Any]]]]] = []
    heappush, heapreplace, heappop = heapq.heappush, heapq.heapreplace, heapq.heappop

    while True:
        head = pending[pi][0] if pi < len(pending) else inf
        top = heap[0][0] if heap else inf
        if next_day < days and min(head, top) >= next_day_lb:
            # Load the next day before anything at or after its earliest start is emitted.
            pending = sorted(pending[pi:] + day_sessions(next_day))
            pi = 0
            next_day += 1
            next_day_lb = base_ms + next_day * _DAY_MS - max_offset_ms if next_day < days else inf
            continue
        if head <= top:
            if head == inf:
                return
            spec = pending[pi]
            pi += 1
            session = _session(spec, videos[spec[4]], pops[spec[2]], params, device_cum)
            t, event = next(session)
            heappush(heap, (t, spec[1], event, session))
            continue
        t, seq, event, session = heap[0]
        nxt = next(session, None)
        if nxt is None:
            heappop(heap)
        else:
            heapreplace(heap, (nxt[0], seq, nxt[1], session))
        yield event


# ----------------------------------------------------------------------------------------------
# Outputs


def _atomic_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise VodlakeError(f"{path} already exists", hint="pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)


def _write_atomically(path: Path, lines: Iterable[str]) -> None:
    """Write to a temporary file beside `path`, then rename: no half-written file on error."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(
    events: Iterable[Mapping[str, Any]],
    path_or_dir: str | os.PathLike[str],
    max_rows_per_file: int | None = None,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Write events as JSON lines; returns the files written, in order.

    A path ending in .jsonl or .json is one file (or <stem>-00000.jsonl, <stem>-00001.jsonl...
    beside it when max_rows_per_file is set); any other path is a directory of
    part-00000.jsonl... files. At least one file is always written, even for no events.
    Existing targets are an error unless overwrite=True (which also removes stale parts).
    """
    if max_rows_per_file is not None and max_rows_per_file < 1:
        raise VodlakeError(f"max_rows_per_file must be at least 1 (got {max_rows_per_file})")
    target = Path(path_or_dir)
    single = target.suffix in (".jsonl", ".json") and not target.is_dir()
    if single and max_rows_per_file is None:
        _atomic_target(target, overwrite)
        folder, names = target.parent, iter([target.name])
    else:
        folder = target.parent if single else target
        stem, suffix = (target.stem, target.suffix) if single else ("part", ".jsonl")
        if folder.exists() and not folder.is_dir():
            raise VodlakeError(f"{folder} is a file, not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        pattern = f"{stem}-[0-9][0-9][0-9][0-9][0-9]{suffix}"
        stale = sorted(folder.glob(pattern))
        if stale and not overwrite:
            raise VodlakeError(
                f"{folder} already holds {len(stale)} {pattern} files",
                hint="pass overwrite=True to replace them, or choose an empty directory",
            )
        for old in stale:
            old.unlink()
        names = (f"{stem}-{i:05d}{suffix}" for i in itertools.count())

    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    limit = max_rows_per_file or math.inf
    iterator = iter(events)
    pending = next(iterator, _END)
    written: list[Path] = []

    def part_lines() -> Iterator[str]:
        nonlocal pending
        rows = 0
        while pending is not _END and rows < limit:
            yield dumps(pending) + "\n"
            rows += 1
            pending = next(iterator, _END)

    while True:
        part = folder / next(names)
        _write_atomically(part, part_lines())
        written.append(part)
        if pending is _END:
            return written


_END: Any = object()


def to_trace_rows(events: Iterable[Mapping[str, Any]]) -> Iterator[tuple[float, str, int]]:
    """(time_seconds since the epoch, "video_id/rendition/chunk_idx", size) per chunk event."""
    for ev in events:
        if ev.get("event_type") != "chunk":
            continue
        try:
            when, vid, rend, idx, size = (
                ev["event_time"],
                ev["video_id"],
                ev["rendition"],
                ev["chunk_idx"],
                ev["bytes"],
            )
        except KeyError as exc:
            raise VodlakeError(f"chunk event {ev.get('event_id')!r} has no {exc.args[0]}") from None
        if not isinstance(idx, int) or not isinstance(size, int) or size <= 0:
            raise VodlakeError(
                f"chunk event {ev.get('event_id')!r}: chunk_idx and bytes must be ints, "
                f"bytes positive (got {idx!r}, {size!r})"
            )
        yield parse_event_time(when) / 1000, f"{vid}/{rend}/{idx}", size


def write_trace_csv(
    events: Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    edge_id: str | None = None,
    *,
    overwrite: bool = False,
) -> int:
    """Write the cache simulator's request trace (header time,object_id,size); returns rows.

    Only chunk events are requests; with `edge_id`, only that edge's. Rows must come in time
    order (generate() guarantees it): an out-of-order trace is refused, not reordered.
    """
    target = Path(path)
    _atomic_target(target, overwrite)
    if edge_id is not None:
        events = (ev for ev in events if ev.get("edge_id") == edge_id)
    count = 0

    def lines() -> Iterator[str]:
        nonlocal count
        buffer = _LineBuffer()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(TRACE_HEADER)
        yield buffer.take()
        last = -math.inf
        for when, object_id, size in to_trace_rows(events):
            if when < last:
                raise VodlakeError(
                    f"trace row {count + 1} ({object_id}) goes back in time",
                    hint="sort the events by event_time first",
                )
            last = when
            writer.writerow((f"{when:.3f}", object_id, size))
            count += 1
            yield buffer.take()

    _write_atomically(target, lines())
    return count


class _LineBuffer:
    """A write() target for csv.writer that hands back each formatted line."""

    def __init__(self) -> None:
        self._line = ""

    def write(self, text: str) -> None:
        self._line = text

    def take(self) -> str:
        line, self._line = self._line, ""
        return line


def summarize(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts for tests and the CLI: events per type and per edge, sessions, users, bytes."""
    by_type: dict[str, int] = {}
    by_edge: dict[str, int] = {}
    sessions: set[str] = set()
    users: set[str] = set()
    chunk_bytes = 0
    total = 0
    first = last = None
    for ev in events:
        total += 1
        kind = ev["event_type"]
        by_type[kind] = by_type.get(kind, 0) + 1
        by_edge[ev["edge_id"]] = by_edge.get(ev["edge_id"], 0) + 1
        sessions.add(ev["session_id"])
        users.add(ev["user_id"])
        if kind == "chunk":
            chunk_bytes += ev["bytes"]
        when = ev["event_time"]
        if first is None or when < first:
            first = when
        if last is None or when > last:
            last = when
    return {
        "events": total,
        "by_type": dict(sorted(by_type.items())),
        "by_edge": dict(sorted(by_edge.items())),
        "sessions": len(sessions),
        "users": len(users),
        "chunk_bytes": chunk_bytes,
        "first_event_time": first,
        "last_event_time": last,
    }
