"""Edges: real nginx processes in front of a real origin over HTTP.

Every test runs its own edges: state under tmp_path, a loopback prefix 127.0.<random> of its
own and a free port, so it never touches edges anyone else runs.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.edge_fixtures import SEG, edge_overrides, get, log_lines, own_objectstore, put_origin
from vodlake.delivery import edges

pytestmark = pytest.mark.integration


@pytest.fixture
def edge_cfg(live_services, make_cfg, tmp_path: Path):
    cfg = make_cfg(**edge_overrides(tmp_path, ttl_s=300))
    yield cfg
    edges.down(cfg)


@pytest.fixture
def short_ttl_cfg(live_services, make_cfg, tmp_path: Path):
    cfg = make_cfg(**edge_overrides(tmp_path, ttl_s=2))
    yield cfg
    edges.down(cfg)


def test_up_status_down_leave_no_process(edge_cfg) -> None:
    assert sorted(edges.up(edge_cfg)) == ["t-a-1", "t-a-2", "t-b-1"]
    assert edges.up(edge_cfg) == []  # idempotent
    statuses = edges.all_status(edge_cfg)
    assert all(s.healthy for s in statuses)
    prefix = edge_cfg.edges.address_prefix
    assert [s.address for s in statuses] == [
        f"{prefix}.{i}:{edge_cfg.edges.port}" for i in (1, 2, 3)
    ]
    assert edges.edge_base_url(edge_cfg, "t-a-2") == f"http://{prefix}.2:{edge_cfg.edges.port}"
    pids = [s.pid for s in statuses]
    assert sorted(edges.down(edge_cfg)) == ["t-a-1", "t-a-2", "t-b-1"]
    assert edges.down(edge_cfg) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    for pid in pids:  # no worker of any edge's process group is left either
        out = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True)
        assert out.stdout.strip() == ""
    assert not any(s.healthy for s in edges.all_status(edge_cfg))


def test_miss_then_hit_with_cors_range_and_head(edge_cfg) -> None:
    data = os.urandom(SEG)
    put_origin(edge_cfg, "videos/v1/360p/seg-00001.m4s", data)
    edges.up(edge_cfg, ["t-a-1"])
    base = edges.edge_base_url(edge_cfg, "t-a-1")
    path = "/videos/v1/360p/seg-00001.m4s"
    status, headers, body = get(base, path + "?sid=s1&br=365")
    assert (status, headers["x-cache"], headers["x-edge"]) == (200, "MISS", "t-a-1")
    assert body == data
    assert headers["access-control-allow-origin"] == "*"
    assert "X-Cache" in headers["access-control-expose-headers"]
    assert "Content-Range" in headers["access-control-expose-headers"]
    status, headers, body = get(base, path + "?sid=s2&br=365")  # other args: same object
    assert (status, headers["x-cache"], body) == (200, "HIT", data)
    status, headers, body = get(base, path, headers={"Range": "bytes=100-199"})
    assert (status, headers["x-cache"], headers["content-range"]) == (
        206,
        "HIT",
        f"bytes 100-199/{SEG}",
    )
    assert body == data[100:200]
    status, headers, body = get(base, path, method="HEAD")
    assert (status, headers["x-cache"], headers["content-length"], body) == (
        200,
        "HIT",
        str(SEG),
        b"",
    )
    lines = log_lines(edges.layout(edge_cfg, "t-a-1"), 4)
    assert [x["cache"] for x in lines] == ["MISS", "HIT", "HIT", "HIT"]
    assert [x["upstream_status"] for x in lines] == ["200", "", "", ""]
    assert (lines[0]["sid"], lines[0]["br"], lines[0]["edge"]) == ("s1", "365", "t-a-1")


def test_expired_after_ttl_goes_back_to_the_origin(short_ttl_cfg) -> None:
    edge_cfg = short_ttl_cfg
    put_origin(edge_cfg, "videos/v1/360p/seg-00002.m4s", os.urandom(SEG))
    edges.up(edge_cfg, ["t-a-1"])
    base = edges.edge_base_url(edge_cfg, "t-a-1")
    path = "/videos/v1/360p/seg-00002.m4s"
    assert get(base, path)[1]["x-cache"] == "MISS"
    assert get(base, path)[1]["x-cache"] == "HIT"
    time.sleep(edge_cfg.edges.ttl_s + 1.0)
    status, headers, _ = get(base, path)
    # expired: revalidated with the origin (304) or fetched again; either way the origin answered
    assert status == 200 and headers["x-cache"] in ("EXPIRED", "REVALIDATED")
    assert get(base, path)[1]["x-cache"] == "HIT"
    lines = log_lines(edges.layout(edge_cfg, "t-a-1"), 4)
    assert [x["upstream_status"] != "" for x in lines] == [True, False, True, False]


def test_prefilled_file_is_served_with_the_origin_stopped(make_cfg, tmp_path: Path) -> None:
    """With an object store of its own, stopped: the prefill store still serves."""
    data = os.urandom(SEG)
    with own_objectstore(tmp_path) as store:
        edge_cfg = make_cfg(**edge_overrides(tmp_path), **store)
        try:
            lay = edges.layout(edge_cfg, "t-a-1")
            held = lay.prefill / "videos/v2/360p/seg-00001.m4s"
            held.parent.mkdir(parents=True)
            held.write_bytes(data)
            put_origin(edge_cfg, "videos/v2/360p/seg-00002.m4s", os.urandom(SEG))
            edges.up(edge_cfg, ["t-a-1"])
            assert get(lay.base_url, "/videos/v2/360p/seg-00002.m4s")[0] == 200  # origin up
        except BaseException:
            edges.down(edge_cfg)
            raise
    try:  # the store is down now, and its process gone
        base = lay.base_url
        status, headers, body = get(base, "/videos/v2/360p/seg-00001.m4s")
        assert (status, headers["x-cache"], body) == (200, "PREFILL", data)
        status, headers, body = get(
            base, "/videos/v2/360p/seg-00001.m4s", headers={"Range": "bytes=0-9"}
        )
        assert (status, headers["x-cache"], body) == (206, "PREFILL", data[:10])
        status, headers, _ = get(base, "/videos/v2/360p/seg-00003.m4s")  # needs the origin
        assert status == 502 and headers["x-cache"] == "MISS"
    finally:
        edges.down(edge_cfg)


def test_capacity_is_respected_by_the_pull_through_cache(edge_cfg) -> None:
    """t-b-1 holds 3 segments: fetching 8 leaves at most ~3 cached, the oldest evicted."""
    for i in range(8):
        put_origin(edge_cfg, f"videos/v3/360p/seg-{i:05d}.m4s", os.urandom(SEG - 4096))
    edges.up(edge_cfg, ["t-b-1"])
    lay = edges.layout(edge_cfg, "t-b-1")
    base = lay.base_url
    for i in range(8):
        assert get(base, f"/videos/v3/360p/seg-{i:05d}.m4s")[1]["x-cache"] == "MISS"
    deadline = time.monotonic() + 10  # the cache manager evicts asynchronously
    while edges.cache_bytes(lay) > lay.edge.capacity_bytes and time.monotonic() < deadline:
        time.sleep(0.2)
    assert 0 < edges.cache_bytes(lay) <= lay.edge.capacity_bytes
    assert get(base, "/videos/v3/360p/seg-00007.m4s")[1]["x-cache"] == "HIT"
    assert get(base, "/videos/v3/360p/seg-00000.m4s")[1]["x-cache"] == "MISS"  # evicted


def test_concurrent_misses_make_one_origin_fetch(edge_cfg) -> None:
    data = os.urandom(4 * SEG)
    put_origin(edge_cfg, "videos/v4/720p/seg-00001.m4s", data)
    edges.up(edge_cfg, ["t-a-2"])
    lay = edges.layout(edge_cfg, "t-a-2")
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(
            pool.map(lambda _: get(lay.base_url, "/videos/v4/720p/seg-00001.m4s"), range(10))
        )
    assert all(status == 200 and body == data for status, _, body in results)
    lines = log_lines(lay, 10)
    assert len(lines) == 10
    fetched = [x for x in lines if x["upstream_status"]]
    assert len(fetched) == 1 and fetched[0]["cache"] == "MISS"
    assert sorted(x["cache"] for x in lines).count("HIT") == 9


REFUSED = [
    "/videos/v5/../../etc/passwd",
    "/videos/v5/%2e%2e/%2e%2e/etc/passwd",
    "/videos/v5/..%2f..%2fetc%2fpasswd",
    "/videos/v5/360p/%2E%2E%5Csecret",
    "/videos/v5/360p%2fseg-00001.m4s",
    "/videos/..",
    "/etc/passwd",
    "/videos/v5/.hidden",
    "/videos/",
    "/origin/videos/v5/360p/seg-00001.m4s",
]


def test_traversal_and_other_paths_are_refused_before_the_origin(edge_cfg) -> None:
    put_origin(edge_cfg, "videos/v5/360p/seg-00001.m4s", b"x" * 100)
    edges.up(edge_cfg, ["t-a-1"])
    lay = edges.layout(edge_cfg, "t-a-1")
    statuses = []
    for path in REFUSED:
        status, headers, _ = get(lay.base_url, path)
        assert status in (400, 404), path
        assert headers["x-edge"] == "t-a-1"
        statuses.append(str(status))
    lines = log_lines(lay, len(REFUSED))
    assert [x["status"] for x in lines] == statuses
    assert all(x["upstream_status"] == "" for x in lines)  # none reached the origin
    status, headers, _ = get(lay.base_url, "/videos/v5/360p/seg-00001.m4s")
    assert (status, headers["x-cache"]) == (200, "MISS")  # the same edge does serve real paths
    assert get(lay.base_url, "/videos/v5/360p/seg-00001.m4s", method="DELETE")[0] == 405


def test_config_command_prints_a_host_config(edge_cfg) -> None:
    lay = edges.layout(edge_cfg, "t-a-1")
    text = edges.render(edge_cfg, lay, listen="80", user="www-data", held=10_000_000)
    assert "listen 80;" in text and "user www-data;" in text
    assert "max_size=40000000 " in text  # capacity 50 MB - 10 MB prefill
    assert (
        "proxy_cache_lock on;" in text and f"proxy_cache_valid 200 {edge_cfg.edges.ttl_s}s;" in text
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert (
        digest
        == hashlib.sha256(
            edges.render(edge_cfg, lay, listen="80", user="www-data", held=10_000_000).encode()
        ).hexdigest()
    )
