"""The fill agent against real nginx edges, a real HTTP origin and real Delta tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.edge_fixtures import edge_overrides, get, make_catalog, put_origin, write_manifest
from vodlake.delivery import edges, fill, fill_plan
from vodlake.lake.tables import Tables

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


@pytest.fixture
def overrides(tmp_path: Path) -> dict:
    """This test's edges and its own origin prefix (derived from paths.home)."""
    return {**edge_overrides(tmp_path), "paths": {"home": str(tmp_path / "home")}}


@pytest.fixture
def fill_cfg(live_services, make_cfg, overrides: dict):
    cfg = make_cfg(**overrides)
    edges.up(cfg, ["t-a-1", "t-a-2"])
    yield cfg
    edges.down(cfg)


def journal(cfg, edge_id: str, day: date = DAY) -> list[dict]:
    return fill.Journal(fill.journal_path(edges.layout(cfg, edge_id), day), "", "", "").entries()


def test_fill_applies_the_manifest_verifies_and_is_idempotent(spark, fill_cfg) -> None:
    files = make_catalog(spark, fill_cfg, {"f1": 5, "f2": 3})
    # one segment on the origin no longer matches the catalog: it must be rejected
    bad = "videos/f1/360p/seg-00003.m4s"
    put_origin(fill_cfg, bad, b"corrupted" * 1000)
    add = [f"f1/360p/{i}" for i in range(5)] + ["f2/360p/0"]
    write_manifest(fill_cfg, DAY, "t-a-1", add)
    write_manifest(fill_cfg, DAY, "t-a-2", [])
    results = fill_plan.run(spark, fill_cfg, DAY, ["t-a-1", "t-a-2"], log=lambda _: None)
    first = results[0]
    assert first["rejected"][0] == 1 and first["failed"][0] == 0
    # 4 good f1 segments + f2 segment 0, and both titles' 4 playlists/init files
    assert first["filled"][0] == 5 + 8
    lay = edges.layout(fill_cfg, "t-a-1")
    want = [p for p, f in files.items() if f.object_id in add or f.object_id is None]
    want = [p for p in want if p != bad]
    want = [p for p in want if p.startswith("videos/f1/") or p.startswith("videos/f2/")]
    for rel in want:
        status, headers, body = get(lay.base_url, "/" + rel)
        assert (status, headers["x-cache"], body) == (200, "PREFILL", files[rel].data), rel
    assert not (lay.prefill / bad).exists()
    status, headers, _ = get(lay.base_url, "/" + bad)
    assert headers["x-cache"] == "MISS"  # not held: never served from the prefill store
    assert get(lay.base_url, "/videos/f2/360p/seg-00002.m4s")[1]["x-cache"] == "MISS"
    rejected = [e for e in journal(fill_cfg, "t-a-1") if e["result"] == "rejected"]
    assert [e["path"] for e in rejected] == [bad]
    assert rejected[0]["reason"].startswith("size ")  # checked against the segments table
    inventory = json.loads(get(lay.base_url, "/inventory.json")[2])
    assert inventory["edge_id"] == "t-a-1"
    assert inventory["videos"]["f1"]["files"] == 4 + 4
    assert inventory["videos"]["f2"] == {
        "files": 5,
        "bytes": sum(len(files[p].data) for p in want if p.startswith("videos/f2/")),
    }
    tables = Tables(fill_cfg)
    fills = tables.read(spark, "edge_fills").where("edge_id = 't-a-1'")
    assert fills.where("result = 'filled'").count() == 13
    assert fills.where("result = 'rejected'").count() == 1
    inv = tables.read(spark, "edge_inventory").where("edge_id = 't-a-1'")
    assert inv.count() == len(want)
    assert (
        inv.where("object_id = 'f1/360p/0'").first()["sha256"]
        == files["videos/f1/360p/seg-00001.m4s"].sha256
    )

    # a second run moves no byte (the bad file is tried and rejected again, nothing stored);
    # the appliance side alone, from the plan the first run saved
    again = fill.apply_saved_plans(fill_cfg, DAY, ["t-a-1"], log=lambda _: None)[0]
    assert again["moved_bytes"] == 0 and again["filled"][0] == 0 and again["kept"] == 13
    assert again["rejected"][0] == 1 and not (lay.prefill / bad).exists()

    # the next night drops f2 and keeps f1: f2's files leave the store
    day2 = date(2026, 11, 21)
    write_manifest(fill_cfg, day2, "t-a-1", [], keep=add[:5], drop=["f2/360p/0"])
    plan2 = fill_plan.build_plans(spark, fill_cfg, day2, ["t-a-1"])[0]
    after = fill.apply_plan(fill_cfg, plan2, log=lambda _: None)
    assert after["dropped"][0] == 5 and after["moved_bytes"] == 0
    assert not (lay.prefill / "videos/f2").exists()
    assert "f2" not in json.loads(get(lay.base_url, "/inventory.json")[2])["videos"]


def test_peer_fill_is_used_when_a_peer_of_the_site_holds_the_file(spark, fill_cfg) -> None:
    files = make_catalog(spark, fill_cfg, {"p1": 4})
    add = [f"p1/360p/{i}" for i in range(4)]
    write_manifest(fill_cfg, DAY, "t-a-1", add[:3])
    write_manifest(fill_cfg, DAY, "t-a-2", add)
    results = fill_plan.run(spark, fill_cfg, DAY, ["t-a-1", "t-a-2"], log=lambda _: None)
    assert results[0]["by_source"].keys() == {"origin"}
    sources = {e["path"]: e["source"] for e in journal(fill_cfg, "t-a-2")}
    held_by_peer = [p for p in files if p != "videos/p1/360p/seg-00004.m4s"]
    assert all(sources[p] == "peer:t-a-1" for p in held_by_peer)
    assert sources["videos/p1/360p/seg-00004.m4s"] == "origin"  # the peer lacks it
    lay2 = edges.layout(fill_cfg, "t-a-2")
    for rel, f in files.items():
        assert (lay2.prefill / rel).read_bytes() == f.data


@pytest.mark.slow
def test_fill_resumes_after_sigkill(spark, fill_cfg, overrides: dict) -> None:
    files = make_catalog(spark, fill_cfg, {"k1": 12})
    add = [f"k1/360p/{i}" for i in range(12)]
    write_manifest(fill_cfg, DAY, "t-a-1", add)
    plan = fill_plan.build_plans(spark, fill_cfg, DAY, ["t-a-1"])[0]
    lay = edges.layout(fill_cfg, "t-a-1")
    fill.write_atomic(fill.plan_path(lay, DAY), plan.to_json().encode())
    total = sum(len(f.data) for f in files.values())
    # the apply step alone (no Spark), paced so that it is killed half way
    slow = json.loads(json.dumps(overrides))
    slow["edges"]["fill_rate_bytes_s"] = total // 4
    code = (
        "import json, sys, datetime\n"
        "from vodlake.config import load_config\n"
        "from vodlake.delivery.fill import apply_saved_plans\n"
        "cfg = load_config('test', overrides=json.loads(sys.argv[1]))\n"
        "apply_saved_plans(cfg, datetime.date.fromisoformat(sys.argv[2]), ['t-a-1'])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(slow), DAY.isoformat()],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "VODLAKE_ENV": "test"},
    )
    deadline = time.monotonic() + 180  # the interpreter may start slowly on a busy machine
    while time.monotonic() < deadline and proc.poll() is None:
        if len(fill.held_files(lay)) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    held = fill.held_files(lay)
    assert 5 <= len(held) < len(files), "killed too late to show a resume"
    for rel in held:  # what is in the store is whole and verified
        assert (lay.prefill / rel).read_bytes() == files[rel].data
    moved_first = sum(e["bytes"] for e in journal(fill_cfg, "t-a-1") if e["result"] == "filled")
    result = fill.apply_plan(fill_cfg, plan, log=lambda _: None)
    assert result["failed"][0] == 0 and result["rejected"][0] == 0
    assert result["kept"] >= len(held) - 1  # a file renamed but not journaled before the kill
    assert not list((lay.fill_dir / "tmp").glob("*"))
    for rel, f in files.items():
        assert (lay.prefill / rel).read_bytes() == f.data
    filled = [e for e in journal(fill_cfg, "t-a-1") if e["result"] == "filled"]
    assert len({e["path"] for e in filled}) == len(files)
    assert moved_first + result["moved_bytes"] == sum(e["bytes"] for e in filled)
    assert sum(e["bytes"] for e in filled) <= total + max(len(f.data) for f in files.values())


def test_fill_budget_and_capacity_defer_the_rest(spark, fill_cfg) -> None:
    files = make_catalog(spark, fill_cfg, {"b1": 6})
    seg = max(len(f.data) for f in files.values())
    add = [f"b1/360p/{i}" for i in range(6)]
    write_manifest(fill_cfg, DAY, "t-a-1", add, budget=3 * seg + 10_000)
    plan = fill_plan.build_plans(spark, fill_cfg, DAY, ["t-a-1"])[0]
    result = fill.apply_plan(fill_cfg, plan, log=lambda _: None)
    assert result["deferred"][0] >= 3
    assert result["moved_bytes"] <= 3 * seg + 10_000
    deferred = [e for e in journal(fill_cfg, "t-a-1") if e["result"] == "deferred"]
    assert all("budget" in e["reason"] for e in deferred)
