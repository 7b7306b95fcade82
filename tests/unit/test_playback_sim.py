"""Unit tests of the playback event generator: determinism, schema, and the realism it promises."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import statistics
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest

from vodlake.config import EdgeConf, PopulationConf, TopologyConf
from vodlake.delivery.rendezvous import owner
from vodlake.errors import VodlakeError
from vodlake.telemetry import generator as ps

UTC = timezone.utc
REPO = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
OFFSETS = ps.REGION_UTC_OFFSET_HOURS
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _topology() -> TopologyConf:
    """The base.yaml shape plus two populations that exercise the steering fallbacks."""

    def edge(id_: str, region: str, isp: str) -> EdgeConf:
        return EdgeConf(id=id_, region=region, isp=isp, capacity_bytes=10**9)

    return TopologyConf(
        regions=("us-east", "us-west", "eu-west"),
        isps=("comcast", "verizon", "att", "bt", "frontier"),
        edges=(
            edge("use-comcast-1", "us-east", "comcast"),
            edge("use-verizon-1", "us-east", "verizon"),
            edge("usw-att-1", "us-west", "att"),
            edge("euw-bt-1", "eu-west", "bt"),
        ),
        populations=(
            PopulationConf(region="us-east", isp="comcast", clients=40000, weight=3.0),
            PopulationConf(region="us-east", isp="verizon", clients=25000, weight=2.0),
            PopulationConf(region="us-west", isp="att", clients=25000, weight=2.0),
            PopulationConf(region="eu-west", isp="bt", clients=15000, weight=1.0),
            # No frontier edge anywhere: the region's edges serve it.
            PopulationConf(region="us-east", isp="frontier", clients=8000, weight=1.0),
            # Comcast has no edge in us-west: the comcast edge in us-east serves it.
            PopulationConf(region="us-west", isp="comcast", clients=8000, weight=1.0),
        ),
    )


def _tiny_catalog(n: int, chunks: int, release: dict[int, int] | None = None) -> list:
    """Short videos with two renditions, for tests that need many sessions but few events."""
    release = release or {}
    return [
        ps.CatalogVideo(
            video_id=f"tiny-{i:03d}",
            title=f"Tiny {i}",
            duration_s=chunks * 2.0,
            segment_seconds=2.0,
            release_day=release.get(i),
            renditions={
                "hi": [50_000 + 100 * i + k for k in range(chunks)],
                "lo": [10_000 + 100 * i + k for k in range(chunks)],
            },
        )
        for i in range(n)
    ]


def _local_day_and_hour(event: dict, start: datetime = ps.DEFAULT_START) -> tuple[int, int]:
    local_ms = ps.parse_event_time(event["event_time"]) + int(OFFSETS[event["region"]] * 3600_000)
    base_ms = int(start.timestamp() * 1000)
    return (local_ms - base_ms) // DAY_MS, (local_ms // 3600_000) % 24


@pytest.fixture(scope="module")
def topology() -> TopologyConf:
    return _topology()


@pytest.fixture(scope="module")
def catalog() -> list:
    return ps.synthetic_catalog(100, seed=11)


@pytest.fixture(scope="module")
def events(catalog, topology) -> list[dict]:
    return list(ps.generate(catalog, topology, days=2, sessions_per_day=200, seed=3))


@pytest.fixture(scope="module")
def sessions(events) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for ev in events:
        out[ev["session_id"]].append(ev)
    return out


# ---- determinism -----------------------------------------------------------------------------


def test_same_seed_same_events_and_other_seed_differs(catalog, topology):
    def run(seed: int) -> list[dict]:
        return list(ps.generate(catalog, topology, days=2, sessions_per_day=25, seed=seed))

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert len(first) > 100
    assert first != other
    assert {e["event_id"] for e in first}.isdisjoint({e["event_id"] for e in other})


def test_same_seed_same_events_in_another_process():
    """Seeds must not depend on hash randomisation or anything else per process."""
    code = (
        "import hashlib, json\n"
        "from tests.unit.test_playback_sim import _tiny_catalog, _topology\n"
        "from vodlake.telemetry import generator as ps\n"
        "evs = ps.generate(_tiny_catalog(20, 12), _topology(), 2, 30, 99)\n"
        "print(hashlib.sha256(''.join(json.dumps(e) for e in evs).encode()).hexdigest())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    here = ps.generate(_tiny_catalog(20, 12), _topology(), 2, 30, 99)
    digest = hashlib.sha256("".join(json.dumps(e) for e in here).encode()).hexdigest()
    assert out.stdout.strip() == digest


def test_synthetic_catalog_is_deterministic_and_realistic():
    ladder = (("low", 400), ("high", 3000))
    a = ps.synthetic_catalog(40, seed=5, ladder=ladder, segment_seconds=4)
    assert a == ps.synthetic_catalog(40, seed=5, ladder=ladder, segment_seconds=4)
    assert a != ps.synthetic_catalog(40, seed=6, ladder=ladder, segment_seconds=4)
    assert len({v.video_id for v in a}) == 40
    durations = [v.duration_s for v in a]
    assert min(durations) >= 30 and max(durations) <= 7200
    assert min(durations) < 300 and max(durations) > 80 * 60  # clips and films
    for video in a:
        assert list(video.renditions) == ["low", "high"]
        n = len(video.renditions["low"])
        assert n == len(video.renditions["high"]) == -(-video.duration_s // 4)
        for name, kbps in ladder:
            sizes = video.renditions[name]
            assert all(isinstance(b, int) and b > 0 for b in sizes)
            # Full chunks average bitrate * seconds / 8 (noise is mean-one).
            full = sizes[:-1] or sizes
            expected = kbps * 1000 / 8 * 4
            assert 0.75 * expected < statistics.mean(full) < 1.25 * expected
        assert video.renditions["high"][0] > video.renditions["low"][0]


# ---- schema and ordering ---------------------------------------------------------------------


def test_every_event_has_exactly_the_schema(events, catalog):
    assert len(events) > 10_000
    video_ids = {v.video_id for v in catalog}
    for ev in events:
        assert tuple(ev) == ps.EVENT_FIELDS
        kind = ev["event_type"]
        assert kind in ps.EVENT_TYPES
        assert UUID4_RE.match(ev["event_id"]) and UUID4_RE.match(ev["session_id"])
        for key in ("user_id", "region", "isp", "video_id", "rendition", "edge_id"):
            assert isinstance(ev[key], str) and ev[key]
        assert ev["video_id"] in video_ids
        assert ev["device"] in ps.DEVICES
        assert ev["cache_status"] == "unknown"
        assert TIME_RE.match(ev["event_time"])
        assert type(ev["bytes"]) is int
        if kind == "chunk":
            assert type(ev["chunk_idx"]) is int and ev["chunk_idx"] >= 0
            assert ev["bytes"] > 0
            assert type(ev["rebuffer_ms"]) is int and ev["rebuffer_ms"] >= 0
            assert ev["startup_ms"] is None
        else:
            assert ev["chunk_idx"] is None and ev["bytes"] == 0 and ev["rebuffer_ms"] is None
            if kind == "start":
                assert type(ev["startup_ms"]) is int and ev["startup_ms"] > 0
            else:
                assert ev["startup_ms"] is None
    assert len({e["event_id"] for e in events}) == len(events)
    assert uuid.UUID(events[0]["event_id"]).version == 4
    ips = {e["client_ip"] for e in events}
    assert all(any(ipaddress.ip_address(ip) in net for net in DOC_NETS) for ip in ips)


def test_sessions_are_ordered_and_framed(events, sessions, catalog):
    seg_ms = {v.video_id: round(v.segment_seconds * 1000) for v in catalog}
    assert len(sessions) == 400
    for evs in sessions.values():
        kinds = [e["event_type"] for e in evs]
        assert kinds[0] == "start"
        assert kinds[-1] in ("stop", "error")
        assert kinds.count("start") == 1 and kinds.count("stop") + kinds.count("error") == 1
        times = [ps.parse_event_time(e["event_time"]) for e in evs]
        assert all(a < b for a, b in pairwise(times))
        chunks = [e for e in evs if e["event_type"] == "chunk"]
        assert [c["chunk_idx"] for c in chunks] == list(range(len(chunks)))
        for prev, cur in pairwise(chunks):
            gap = ps.parse_event_time(cur["event_time"]) - ps.parse_event_time(prev["event_time"])
            # One segment apart, plus the stall reported on the later chunk, plus < 40 ms jitter.
            assert 0 <= gap - seg_ms[cur["video_id"]] - cur["rebuffer_ms"] < 40
        constant = ("user_id", "device", "client_ip", "region", "isp", "video_id", "edge_id")
        assert len({tuple(e[k] for k in constant) for e in evs}) == 1
    # The whole stream is in time order, so a consumer can replay it as it comes.
    stamps = [e["event_time"] for e in events]
    assert stamps == sorted(stamps)


def test_bytes_equal_catalog_segment_sizes(events, catalog):
    by_id = {v.video_id: v for v in catalog}
    chunks = [e for e in events if e["event_type"] == "chunk"]
    for ev in chunks:
        assert ev["bytes"] == by_id[ev["video_id"]].renditions[ev["rendition"]][ev["chunk_idx"]]
    assert len({e["rendition"] for e in chunks}) == len(ps.DEFAULT_LADDER)


def test_abr_starts_mid_ladder_switches_and_caps_mobile(events, sessions):
    assert {e["rendition"] for e in events if e["event_type"] == "start"} == {"432p"}
    mobile = {e["rendition"] for e in events if e["device"] == "mobile"}
    assert mobile and mobile <= {"234p", "360p", "432p", "540p"}
    switched = sum(
        1
        for evs in sessions.values()
        if len({e["rendition"] for e in evs if e["event_type"] == "chunk"}) > 1
    )
    assert 0.1 * len(sessions) < switched < len(sessions)
    tv_top = sum(1 for e in events if e["device"] == "tv" and e["rendition"] == "1080p")
    assert tv_top > 0


# ---- realism -----------------------------------------------------------------------------------


def test_title_popularity_is_zipf_skewed(events, catalog):
    starts = Counter(e["video_id"] for e in events if e["event_type"] == "start")
    top = sum(count for _, count in starts.most_common(len(catalog) // 10))
    assert top / sum(starts.values()) > 0.4


def test_most_sessions_abandon_early(sessions, catalog):
    watched = [sum(e["event_type"] == "chunk" for e in evs) for evs in sessions.values()]
    mean_length = statistics.mean(len(next(iter(v.renditions.values()))) for v in catalog)
    assert statistics.median(watched) < 0.25 * mean_length
    five_minutes = 300 // 4
    assert sum(w <= five_minutes for w in watched) >= 0.4 * len(watched)
    by_id = {v.video_id: v for v in catalog}
    finished = sum(
        1
        for evs in sessions.values()
        if evs[-1]["event_type"] == "stop"
        and sum(e["event_type"] == "chunk" for e in evs)
        == len(by_id[evs[0]["video_id"]].renditions["234p"])
    )
    assert finished > 0.05 * len(sessions)  # a tail watches to the end


def test_evenings_are_busier_than_early_mornings(events):
    hours = Counter(_local_day_and_hour(e)[1] for e in events if e["event_type"] == "start")
    evening_rate = sum(hours[h] for h in (19, 20, 21, 22)) / 4
    dawn_rate = sum(hours[h] for h in (4, 5)) / 2
    assert evening_rate > 5 * dawn_rate


def test_sessions_pick_population_by_clients_and_weight(events):
    starts = Counter((e["region"], e["isp"]) for e in events if e["event_type"] == "start")
    # comcast/us-east has 40000 * 3.0 of 306000 weighted clients; bt/eu-west 15000 * 1.0.
    assert starts[("us-east", "comcast")] > 4 * starts[("eu-west", "bt")]
    assert starts[("eu-west", "bt")] > 0


def test_new_release_spikes_then_decays(topology):
    catalog = _tiny_catalog(40, 6, release={7: 1})
    evs = ps.generate(catalog, topology, days=3, sessions_per_day=400, seed=21)
    per_day: dict[int, Counter] = defaultdict(Counter)
    for ev in evs:
        if ev["event_type"] == "start":
            per_day[_local_day_and_hour(ev)[0]][ev["video_id"]] += 1
    new = "tiny-007"
    assert per_day[0][new] == 0  # not released yet
    assert per_day[1][new] > per_day[2][new] > 0
    # On its release day it is among the three most watched titles.
    assert new in [video for video, _ in per_day[1].most_common(3)]


def test_edge_is_in_the_clients_isp_when_it_has_one(events, topology):
    edges = {e.id: e for e in topology.edges}
    isps_with_edge = {e.isp for e in topology.edges}
    seen = set()
    for ev in events:
        edge = edges[ev["edge_id"]]
        if ev["isp"] in isps_with_edge:
            assert edge.isp == ev["isp"]
        else:
            assert edge.region == ev["region"]
        seen.add((ev["region"], ev["isp"], ev["edge_id"]))
    assert ("us-west", "comcast", "use-comcast-1") in seen
    assert any(region == "us-east" and isp == "frontier" for region, isp, _ in seen)


def test_a_site_of_several_edges_splits_titles_as_steering_does(events) -> None:
    # Frontier has no edge of its own: us-east's two edges serve it, and each title goes to
    # the one steering's rendezvous hash picks (so the placement's site split sees the demand
    # where the requests land), whichever user watches it.
    site = ("use-comcast-1", "use-verizon-1")
    by_title: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        if ev["isp"] == "frontier":
            by_title[ev["video_id"]].add(ev["edge_id"])
    assert len(by_title) > 5
    assert dict(by_title) == {t: {owner(t, site)} for t in by_title}
    assert len({owner(t, site) for t in by_title}) == 2


def test_errors_end_sessions_without_stop(catalog, topology):
    params = ps.SimParams(error_rate=0.5)
    evs = list(ps.generate(catalog[:20], topology, 1, 60, seed=4, params=params))
    summary = ps.summarize(evs)
    assert summary["by_type"]["error"] + summary["by_type"]["stop"] == summary["sessions"] == 60
    assert 10 < summary["by_type"]["error"] < 50


# ---- outputs ---------------------------------------------------------------------------------


def test_summarize_counts(events, sessions):
    summary = ps.summarize(events)
    assert summary["events"] == len(events)
    assert sum(summary["by_type"].values()) == len(events)
    assert sum(summary["by_edge"].values()) == len(events)
    assert summary["sessions"] == len(sessions) == summary["by_type"]["start"]
    assert summary["chunk_bytes"] == sum(e["bytes"] for e in events)
    assert summary["first_event_time"] == events[0]["event_time"]
    assert summary["last_event_time"] == events[-1]["event_time"]


def test_trace_rows_and_csv(events, tmp_path):
    chunks = [e for e in events if e["event_type"] == "chunk"]
    rows = list(ps.to_trace_rows(events))
    assert len(rows) == len(chunks)
    for i, ((when, object_id, size), ev) in enumerate(zip(rows, chunks, strict=True)):
        assert object_id == f"{ev['video_id']}/{ev['rendition']}/{ev['chunk_idx']}"
        assert size == ev["bytes"]
        if i % 50 == 0:
            stamp = datetime.fromisoformat(ev["event_time"].replace("Z", "+00:00")).timestamp()
            assert abs(when - stamp) < 1e-6

    path = tmp_path / "trace" / "all.csv"
    assert ps.write_trace_csv(events, path) == len(chunks)
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["time", "object_id", "size"]
        body = list(reader)
    assert len(body) == len(chunks)
    assert [(float(t), o, int(s)) for t, o, s in body] == [(round(w, 3), o, s) for w, o, s in rows]
    assert all(float(a[0]) <= float(b[0]) for a, b in pairwise(body))

    edge = "use-verizon-1"
    only = tmp_path / "verizon.csv"
    count = ps.write_trace_csv(events, only, edge_id=edge)
    assert count == sum(1 for e in chunks if e["edge_id"] == edge) > 0

    with pytest.raises(VodlakeError, match="already exists"):
        ps.write_trace_csv(events, path)
    backwards = tmp_path / "backwards.csv"
    with pytest.raises(VodlakeError, match="back in time"):
        ps.write_trace_csv(list(reversed(events)), backwards)
    assert not backwards.exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_write_jsonl_file_and_parts(events, tmp_path):
    sample = events[:2500]
    single = ps.write_jsonl(sample, tmp_path / "events.jsonl")
    assert single == [tmp_path / "events.jsonl"]
    assert [json.loads(line) for line in single[0].read_text().splitlines()] == sample

    parts = ps.write_jsonl(iter(sample), tmp_path / "lake", max_rows_per_file=1000)
    assert [p.name for p in parts] == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    back = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
    assert back == sample
    assert [len(p.read_text().splitlines()) for p in parts] == [1000, 1000, 500]

    with pytest.raises(VodlakeError, match="already holds"):
        ps.write_jsonl(sample, tmp_path / "lake")
    again = ps.write_jsonl(sample[:10], tmp_path / "lake", overwrite=True)
    assert sorted((tmp_path / "lake").iterdir()) == again  # stale parts removed

    exact = ps.write_jsonl(sample[:2000], tmp_path / "split.jsonl", max_rows_per_file=1000)
    assert [p.name for p in exact] == ["split-00000.jsonl", "split-00001.jsonl"]
    empty = ps.write_jsonl([], tmp_path / "empty")
    assert len(empty) == 1 and empty[0].read_text() == ""


def test_event_time_round_trip():
    moment = datetime(2026, 11, 3, 23, 59, 59, 987000, tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    text = ps.format_event_time(ms)
    assert text == "2026-11-03T23:59:59.987Z"
    assert ps.parse_event_time(text) == ms
    assert ps.parse_event_time("2026-11-03T23:59:59.987+00:00") == ms
    assert ps.format_event_time(ms + 13) == "2026-11-04T00:00:00.000Z"
    with pytest.raises(VodlakeError, match="not an ISO-8601"):
        ps.parse_event_time("yesterday")
    with pytest.raises(VodlakeError, match="no time zone"):
        ps.parse_event_time("2026-11-03T23:59:59")


# ---- bad input -----------------------------------------------------------------------------------


def _bad_video(**changes) -> list:
    return [dataclasses.replace(_tiny_catalog(1, 4)[0], **changes)]


@pytest.mark.parametrize(
    ("catalog", "kwargs", "message"),
    [
        ([], {}, "catalog is empty"),
        (_bad_video(renditions={"a": [1, 2], "b": [1]}), {}, "different or zero chunk counts"),
        (_bad_video(renditions={"a": [1, 0]}), {}, "positive ints"),
        (_bad_video(renditions={"a": [1.5, 2.0]}), {}, "positive ints"),
        (_bad_video(release_day=3), {}, "released on day 0"),
        (_tiny_catalog(2, 4) + _tiny_catalog(1, 4), {}, "appears twice"),
        (_tiny_catalog(2, 4), {"days": 0}, "days must be"),
        (_tiny_catalog(2, 4), {"start": datetime(2026, 11, 1)}, "timezone-aware"),
        (_tiny_catalog(2, 4), {"start": ps.DEFAULT_START + timedelta(hours=3)}, "midnight"),
        (_tiny_catalog(2, 4), {"params": ps.SimParams(utc_offsets={})}, "no UTC offset"),
    ],
)
def test_bad_input_is_refused_with_a_reason(catalog, kwargs, message, topology):
    args = {"days": 1, "sessions_per_day": 5, "seed": 1} | kwargs
    with pytest.raises(VodlakeError, match=message):
        ps.generate(catalog, topology, **args)


def test_topology_without_edges_is_refused():
    bare = TopologyConf(
        regions=("us-east",),
        isps=("comcast",),
        populations=(PopulationConf(region="us-east", isp="comcast", clients=10),),
    )
    with pytest.raises(VodlakeError, match="no edges"):
        ps.generate(_tiny_catalog(2, 4), bare, 1, 5, 1)
