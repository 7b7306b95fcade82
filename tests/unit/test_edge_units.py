"""Edges without processes: addresses, the generated nginx config, fill plans, log offsets."""

from __future__ import annotations

import re
from pathlib import Path

from vodlake.config import load_config
from vodlake.delivery import edges, fill, logs


def _cfg(tmp_path: Path, **edges_conf: object):
    return load_config(
        "test",
        overrides={
            "paths": {"home": str(tmp_path / "home")},
            "edges": {"state_dir": str(tmp_path / "edges"), **edges_conf},
        },
    )


def test_edge_i_listens_on_prefix_dot_i_plus_one(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    ids = [e.id for e in cfg.topology.edges]
    assert edges.edge_address(cfg, ids[0]) == ("127.0.1.1", 8080)
    assert edges.edge_base_url(cfg, ids[2]) == "http://127.0.1.3:8080"
    assert edges.layout(cfg, ids[1]).root == tmp_path / "edges" / ids[1]


def test_config_caps_the_cache_at_capacity_minus_prefill(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, ttl_s=120, origin_url="http://127.0.0.1:8333/bucket/pre")
    edge = cfg.topology.edges[0]
    lay = edges.layout(cfg, edge.id)
    text = edges.render(cfg, lay, held=300_000_000)
    assert f"max_size={edge.capacity_bytes - 300_000_000} " in text
    assert f"inactive={cfg.edges.cache_inactive_s}s" in text
    assert "proxy_cache_valid 200 120s;" in text
    assert "proxy_cache_lock on;" in text
    assert "proxy_cache_key $uri;" in text  # query arguments (CMCD) never split the cache
    assert "proxy_pass http://vodlake_origin/bucket/pre$uri;" in text
    assert "server 127.0.0.1:8333;" in text
    assert f"listen 127.0.1.1:{cfg.edges.port};" in text
    # a store fuller than capacity still leaves the cache its floor, never a negative size
    assert f"max_size={edges.MIN_CACHE_BYTES} " in edges.render(cfg, lay, held=10**13)
    # storage-fair: a store filled to its room leaves the cache exactly the rest of capacity
    room = edges.prefill_room(edge)
    assert room + edges.cache_max_bytes(edge, room) == edge.capacity_bytes


def test_path_rules_refuse_traversal_and_accept_packager_names() -> None:
    refused = re.compile(edges.REFUSED_RAW.replace("\\\\\\\\", "\\\\"))
    for raw in ("/videos/a/../b", "/videos/%2e%2e/x", "/videos/a%2Fb", "/videos/a%5cb", "/x%00"):
        assert refused.search(raw), raw
    video = re.compile(edges.VIDEO_PATH)
    assert video.match("/videos/abc_1-2/720p/seg-00001.m4s")
    assert video.match("/videos/abc/master.m3u8")
    for bad in ("/videos/abc", "/videos/.x/a", "/videos/abc/.hidden", "/other/abc/a.m4s"):
        assert not video.match(bad), bad


def test_fill_plan_round_trips_through_json() -> None:
    plan = fill.EdgePlan("e1", "2026-11-20", 10, 20)
    plan.want.append(fill.FillFile("videos/v/360p/seg-00001.m4s", "v", "v/360p/0", 5, "ab"))
    plan.want.append(fill.FillFile("videos/v/master.m3u8", "v"))
    assert fill.EdgePlan.from_json(plan.to_json()) == plan


def test_shipper_sends_whole_lines_once_and_rereads_a_new_file(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    lay = edges.layout(cfg, cfg.topology.edges[0].id)
    lay.logs.mkdir(parents=True)
    lay.access_log.write_bytes(b'{"a":1}\n{"a":2}\n{"a":')  # nginx mid-line
    lines, inode, offset = logs.pending_lines(lay)
    assert lines == [b'{"a":1}', b'{"a":2}'] and offset == 16
    logs.write_offset(lay, inode, offset)
    assert logs.pending_lines(lay)[0] == []
    with open(lay.access_log, "ab") as out:
        out.write(b"3}\n")
    assert logs.pending_lines(lay)[0] == [b'{"a":3}']
    lay.access_log.unlink()  # rotated: a new file is read from its start
    lay.access_log.write_bytes(b'{"b":1}\n')
    assert logs.pending_lines(lay)[0] == [b'{"b":1}']


def test_rate_limit_paces_to_the_rate(monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(fill.time, "sleep", slept.append)
    limit = fill.RateLimit(1000.0)
    limit.consume(500)
    assert slept and 0.4 < slept[0] <= 0.5
