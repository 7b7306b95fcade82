"""Edges: real nginx processes in front of a real origin over HTTP.

Every test runs its own edges: state under tmp_path, a loopback prefix 127.0.<random> of its
own and a free port, so it never touches edges anyone else runs.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vodlake.delivery import edges

pytestmark = pytest.mark.integration

SEG = 256 * 1024


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Origin:
    """A stand-in HTTP origin: a folder served by `python -m http.server` on loopback."""

    root: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def put(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"],
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("stand-in origin did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Origin]:
    org = Origin(tmp_path / "origin-root", free_port())
    org.root.mkdir()
    org.start()
    yield org
    org.stop()


def edge_overrides(tmp_path: Path, origin_url: str, **edges_conf: object) -> dict:
    prefix = f"127.0.{random.randint(100, 250)}"
    topo_edges = [
        {"id": "t-a-1", "region": "r1", "isp": "ispa", "capacity_bytes": 50_000_000},
        {"id": "t-a-2", "region": "r1", "isp": "ispa", "capacity_bytes": 50_000_000},
        {"id": "t-b-1", "region": "r2", "isp": "ispb", "capacity_bytes": 3 * SEG},
    ]
    return {
        "edges": {
            "state_dir": str(tmp_path / "edges"),
            "address_prefix": prefix,
            "port": free_port(),
            "origin_url": origin_url,
            **edges_conf,
        },
        "topology": {"edges": topo_edges},
    }


@pytest.fixture
def edge_cfg(make_cfg, tmp_path: Path, origin: Origin):
    cfg = make_cfg(**edge_overrides(tmp_path, origin.url, ttl_s=300))
    yield cfg
    edges.down(cfg)


@pytest.fixture
def short_ttl_cfg(make_cfg, tmp_path: Path, origin: Origin):
    cfg = make_cfg(**edge_overrides(tmp_path, origin.url, ttl_s=2))
    yield cfg
    edges.down(cfg)


def get(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A request with the path sent exactly as given (no client-side normalization)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def log_lines(lay: edges.EdgeLayout, at_least: int, timeout: float = 10.0) -> list[dict]:
    """The edge's JSON access log lines, once at least `at_least` are written (buffered 1 s)."""
    deadline = time.monotonic() + timeout
    lines: list[dict] = []
    while time.monotonic() < deadline:
        if lay.access_log.exists():
            lines = [json.loads(x) for x in lay.access_log.read_text().splitlines() if x]
            if len(lines) >= at_least:
                return lines
        time.sleep(0.2)
    return lines


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


def test_miss_then_hit_with_cors_range_and_head(edge_cfg, origin: Origin) -> None:
    data = os.urandom(SEG)
    origin.put("videos/v1/360p/seg-00001.m4s", data)
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


def test_expired_after_ttl_goes_back_to_the_origin(short_ttl_cfg, origin: Origin) -> None:
    edge_cfg = short_ttl_cfg
    origin.put("videos/v1/360p/seg-00002.m4s", os.urandom(SEG))
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


def test_prefilled_file_is_served_with_the_origin_stopped(edge_cfg, origin: Origin) -> None:
    lay = edges.layout(edge_cfg, "t-a-1")
    data = os.urandom(SEG)
    held = lay.prefill / "videos/v2/360p/seg-00001.m4s"
    held.parent.mkdir(parents=True)
    held.write_bytes(data)
    origin.put("videos/v2/360p/seg-00002.m4s", os.urandom(SEG))
    edges.up(edge_cfg, ["t-a-1"])
    origin.stop()
    base = edges.edge_base_url(edge_cfg, "t-a-1")
    status, headers, body = get(base, "/videos/v2/360p/seg-00001.m4s")
    assert (status, headers["x-cache"], body) == (200, "PREFILL", data)
    status, headers, body = get(
        base, "/videos/v2/360p/seg-00001.m4s", headers={"Range": "bytes=0-9"}
    )
    assert (status, headers["x-cache"], body) == (206, "PREFILL", data[:10])
    status, headers, _ = get(base, "/videos/v2/360p/seg-00002.m4s")  # not held: needs the origin
    assert status == 502 and headers["x-cache"] == "MISS"


def test_capacity_is_respected_by_the_pull_through_cache(edge_cfg, origin: Origin) -> None:
    """t-b-1 holds 3 segments: fetching 8 leaves at most ~3 cached, the oldest evicted."""
    for i in range(8):
        origin.put(f"videos/v3/360p/seg-{i:05d}.m4s", os.urandom(SEG - 4096))
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


def test_concurrent_misses_make_one_origin_fetch(edge_cfg, origin: Origin) -> None:
    data = os.urandom(4 * SEG)
    origin.put("videos/v4/720p/seg-00001.m4s", data)
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


@pytest.mark.parametrize(
    "path",
    [
        "/videos/v5/../../etc/passwd",
        "/videos/v5/%2e%2e/%2e%2e/etc/passwd",
        "/videos/v5/..%2f..%2fetc%2fpasswd",
        "/videos/v5/360p/%2E%2E%5Csecret",
        "/videos/..",
        "/etc/passwd",
        "/videos/v5/.hidden",
        "/videos/",
        "/origin/videos/v5/360p/seg-00001.m4s",
    ],
)
def test_traversal_and_other_paths_are_refused_before_the_origin(
    edge_cfg, origin: Origin, path: str
) -> None:
    origin.put("videos/v5/360p/seg-00001.m4s", b"x" * 100)
    edges.up(edge_cfg, ["t-a-1"])
    lay = edges.layout(edge_cfg, "t-a-1")
    status, headers, _ = get(lay.base_url, path)
    assert status in (400, 404)
    assert headers["x-edge"] == "t-a-1"
    line = log_lines(lay, 1)[-1]
    assert line["upstream_status"] == "" and line["status"] == str(status)


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
