"""Steering and players against real edges (nginx), the object store origin, Kafka and Delta.

One module-wide world in its own namespace: its own topics, lake, origin prefix, edge addresses
(127.0.13.N on a port of its own), steering port and a small topology (two comcast edges and a
verizon edge in us-east), so it never touches the default services' edges or steering:
1. a client inside comcast's prefix is steered to the comcast edge that holds the title (the
   nightly fill put it there) ahead of its hash-preferred sibling, then verizon, then the origin;
2. unknown titles are 404 and malformed queries 400, as JSON;
3. `watch` runs real sessions with no failure and its playback events reconcile in silver;
4. an edge killed during `watch`: steering stops naming it within one health interval (plus
   the poll's own timeout), its sessions fail over, no session fails; it comes back when it
   answers again;
5. steering stopped: `vodlake watch` says so in one line and no session outlives its timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.delivery_fixtures import build_catalog, free_port, prefill_title, world_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT_COMCAST = "127.10.0.50"
CLIENT_VERIZON = "127.11.0.50"


def _steer(cfg, video_id: str | None, local: str, raw: str | None = None) -> tuple[int, dict]:
    """GET /v1/steer from a client address of our choosing (the peer address steering sees)."""
    import aiohttp

    query = raw if raw is not None else f"video_id={video_id}"
    url = f"http://{cfg.steering.host}:{cfg.steering.port}/v1/steer?{query}"

    async def go() -> tuple[int, dict]:
        conn = aiohttp.TCPConnector(local_addr=(local, 0))
        async with aiohttp.ClientSession(connector=conn) as http, http.get(url) as resp:
            return resp.status, await resp.json()

    return asyncio.run(go())


def _named(cfg, video_id: str, local: str) -> list[str]:
    status, doc = _steer(cfg, video_id, local)
    assert status == 200, doc
    return [u["id"] for u in doc["urls"]]


@pytest.fixture(scope="module")
def world(live_services, spark, tmp_path_factory) -> Any:
    from vodlake.delivery import edges
    from vodlake.services.steering import SteeringService

    home = tmp_path_factory.mktemp("delivery")
    cfg = world_config(home)
    ids = build_catalog(spark, cfg, home / "media", titles=2, seconds=16)
    started_edges = edges.up(cfg, log=lambda _: None)
    steering = SteeringService(cfg)
    try:
        # the title goes onto the comcast edge the hash does NOT prefer: only the inventory
        # can put it first
        from vodlake.delivery.steering import hrw

        vid = ids[0]
        holder = min(("use-comcast-1", "use-comcast-2"), key=lambda e: hrw(vid, e))
        prefill_title(spark, cfg, holder, vid)
        steering.up()
        time.sleep(cfg.steering.health_interval_s * 2.5)  # inventories polled
        yield {"cfg": cfg, "ids": ids, "holder": holder, "steering": steering}
    finally:
        steering.down()
        edges.down(cfg, started_edges or None)
        shutil.rmtree(steering.state, ignore_errors=True)  # its conf folder and log


def test_client_in_an_isp_prefix_goes_to_its_isp_edge_holding_the_title_first(world) -> None:
    cfg, vid, holder = world["cfg"], world["ids"][0], world["holder"]
    other = "use-comcast-2" if holder == "use-comcast-1" else "use-comcast-1"
    status, doc = _steer(cfg, vid, CLIENT_COMCAST)
    assert status == 200, doc
    assert doc["client"] == {
        "address": CLIENT_COMCAST, "region": "us-east", "isp": "comcast", "unhealthy": [],
    }  # fmt: skip
    assert [u["id"] for u in doc["urls"]] == [holder, other, "use-verizon-1", "origin"]
    assert "holds the title" in doc["urls"][0]["reason"]
    assert doc["urls"][-1]["kind"] == "origin"
    # the URL it hands out really plays from that edge's prefill store
    import urllib.request

    with urllib.request.urlopen(doc["hls_url"], timeout=5) as resp:
        assert resp.headers["X-Edge"] == holder
        assert resp.headers["X-Cache"] == "PREFILL"
    # a title nobody holds: the comcast edges in hash order
    vid2 = world["ids"][1]
    from vodlake.delivery.steering import hrw

    by_hash = sorted(("use-comcast-1", "use-comcast-2"), key=lambda e: -hrw(vid2, e))
    assert _named(cfg, vid2, CLIENT_COMCAST)[:2] == by_hash
    # verizon's clients go to verizon's edge first
    assert _named(cfg, vid, CLIENT_VERIZON)[0] == "use-verizon-1"


def test_unknown_title_is_404_and_malformed_queries_are_400(world) -> None:
    cfg = world["cfg"]
    status, doc = _steer(cfg, "no-such-video", CLIENT_COMCAST)
    assert status == 404 and "unknown video" in doc["error"]
    for raw in ("", "video_id=..%2Fetc", "video_id=a&video_id=b", "video=x", "video_id=a&x=1"):
        status, doc = _steer(cfg, None, CLIENT_COMCAST, raw=raw)
        assert status == 400 and "bad request" in doc["error"], raw


def _ingest_and_reconcile(spark, cfg) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from vodlake.lake.tables import Tables
    from vodlake.telemetry import ingest
    from vodlake.telemetry.reconcile import reconcile_playback

    ingest.run(spark, cfg, once=True)
    rec = reconcile_playback(spark, cfg)
    silver = Tables(cfg).read(spark, "silver_playback")
    chunks = silver.where(F.col("event_type") == "chunk")
    by_edge = {
        r["edge"]: r["bytes"]
        for r in chunks.groupBy(F.coalesce("edge_id", F.lit("origin")).alias("edge"))
        .agg(F.sum("bytes").alias("bytes"))
        .collect()
    }
    return {"rec": rec, "silver": silver.count(), "by_edge": by_edge}


def test_watch_plays_without_failure_and_its_events_reconcile_in_silver(world, spark) -> None:
    from vodlake.delivery.players import watch

    cfg = world["cfg"]
    out = watch(cfg, clients=6, minutes=0.4, seed=3)
    assert out["failed_sessions"] == 0, out
    assert out["sessions"] >= 6 and out["chunks"] > 0
    assert out["startup_p50_s"] is not None and out["mean_bitrate_kbps"] > 0
    assert set(out["bytes_by_edge"]) <= {"use-comcast-1", "use-comcast-2", "use-verizon-1"}
    assert set(out["bytes_by_cache_status"]) <= {"PREFILL", "HIT", "MISS", "EXPIRED"}
    assert out["events_acked"] == out["events_sent"]
    got = _ingest_and_reconcile(spark, cfg)
    assert got["rec"].holds and got["rec"].quarantine == 0, got["rec"].lines()
    assert got["rec"].bronze == out["events_sent"] == got["silver"]
    assert got["by_edge"] == out["bytes_by_edge"]


def test_an_edge_killed_during_watch_is_dropped_within_one_interval_and_failed_over(
    world,
) -> None:
    from vodlake.delivery import edges
    from vodlake.delivery.players import watch

    cfg, vid, holder = world["cfg"], world["ids"][0], world["holder"]
    assert _named(cfg, vid, CLIENT_COMCAST)[0] == holder
    # players in real time with a small buffer, all in comcast's prefix: sessions keep
    # fetching from the edge steering named when they started, so the kill lands mid-session
    players = cfg.players.model_copy(update={"speed": 1.0, "max_buffer_s": 4.0})
    comcast = tuple(p for p in cfg.topology.populations if p.isp == "comcast")
    topo = cfg.topology.model_copy(update={"populations": comcast})
    pcfg = cfg.model_copy(update={"players": players, "topology": topo})
    result: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: result.update(watch(pcfg, clients=8, minutes=0.5, seed=5, kafka=False))
    )
    runner.start()
    time.sleep(8)
    lay = edges.layout(cfg, holder)
    pid = edges.running_pid(lay)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # no goodbye: the process is simply gone
    killed = time.monotonic()
    while holder in _named(cfg, vid, CLIENT_COMCAST):
        assert time.monotonic() - killed < 10, "steering still names a dead edge"
        time.sleep(0.05)
    dropped_after = time.monotonic() - killed
    limit = cfg.steering.health_interval_s + cfg.steering.health_timeout_s
    assert dropped_after <= limit, f"named for {dropped_after:.2f}s after the kill"
    runner.join(timeout=120)
    assert not runner.is_alive()
    assert result["failed_sessions"] == 0, result
    assert result["failovers"] > 0, result
    # back when it answers again
    edges.up(cfg, [holder], log=lambda _: None)
    deadline = time.monotonic() + limit + 1
    while _named(cfg, vid, CLIENT_COMCAST)[0] != holder:
        assert time.monotonic() < deadline, "the edge did not come back"
        time.sleep(0.1)
    interval = cfg.steering.health_interval_s
    print(f"edge dropped {dropped_after:.2f}s after the kill (health interval {interval:.1f}s)")


def test_steering_stopped_is_a_clear_error_and_nothing_hangs(world) -> None:
    from vodlake.delivery.players import watch

    cfg, steering = world["cfg"], world["steering"]
    result: dict[str, Any] = {}
    minutes = 0.3
    runner = threading.Thread(
        target=lambda: result.update(watch(cfg, clients=4, minutes=minutes, seed=9, kafka=False))
    )
    started = time.monotonic()
    runner.start()
    time.sleep(4)
    steering.down()
    runner.join(timeout=minutes * 60 + cfg.players.request_timeout_s + 30)
    took = time.monotonic() - started
    assert not runner.is_alive(), "watch hung after steering stopped"
    assert took < minutes * 60 + cfg.players.request_timeout_s + 10
    assert any("steering unreachable" in reason for reason in result["failures"]), result
    # a new run: one clear line and a hint, exit 2
    env = {**os.environ, "VODLAKE_ENV": "test"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "vodlake"), "watch", "--clients", "2", "--minutes",
         "0.1", "--steering", f"http://127.0.0.1:{cfg.steering.port}", "--no-kafka"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: steering is not reachable"), proc.stderr
    assert lines[1].startswith("hint: start it with `vodlake steering start`")
    steering.up()  # leave the world as it was for anything after
    json.dumps(result)


@pytest.fixture
def web_url(world, spark) -> Any:
    """The catalog synced to this world's own index, and `vodlake web` served in a thread."""
    from aiohttp import web

    from vodlake.delivery.web import make_app
    from vodlake.search import index as es_index
    from vodlake.search.sync import sync_search

    cfg = world["cfg"]
    sync_search(spark, cfg)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(cfg))

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    time.sleep(1.0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        es = es_index.client(cfg)
        es.indices.delete(index=f"{cfg.elasticsearch.index_prefix}*", ignore_unavailable=True)


def test_the_web_page_finds_a_title_and_plays_it_through_an_edge(
    world, web_url, chromium_page
) -> None:
    edge_ids = {"use-comcast-1", "use-comcast-2", "use-verizon-1"}
    page = chromium_page
    page.goto(web_url)
    page.wait_for_selector("a.card")  # the catalog
    page.fill("#q", "Delivery clip 1")
    page.click("button[type=submit]")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('search')")
    first = page.locator("a.card").first
    assert first.get_attribute("data-video-id") == world["ids"][1]
    # the thumbnail: cut by ffmpeg from the title's first segment, fetched via steering
    page.wait_for_function(
        "document.querySelector('a.card img').complete && "
        "document.querySelector('a.card img').naturalWidth > 0",
        timeout=60_000,
    )
    first.click()
    page.wait_for_function(
        "window.vodlake && (window.vodlake.error || "
        "(window.vodlake.fragments.length >= 2 && "
        "document.getElementById('video').currentTime > 1.5))",
        timeout=90_000,
    )
    state = page.evaluate(
        "({error: window.vodlake.error, frags: window.vodlake.fragments, "
        "t: document.getElementById('video').currentTime})"
    )
    assert state["error"] is None, state
    assert state["t"] > 1.5
    assert {f["edge"] for f in state["frags"]} <= edge_ids
    assert all(f["cache"] in ("MISS", "HIT", "PREFILL", "EXPIRED") for f in state["frags"]), state
    served = [(f["edge"], f["cache"]) for f in state["frags"]]
    print(f"browser played {state['t']:.1f}s; fragments: {served}")
