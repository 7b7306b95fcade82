"""Edge request logs: real nginx JSON lines -> real Kafka -> Delta edge_requests -> gold."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.edge_fixtures import SEG, edge_overrides, get, log_lines, put_origin
from vodlake.delivery import edges, logs
from vodlake.lake import kafka_io
from vodlake.lake.tables import Tables
from vodlake.telemetry.ingest import await_query

pytestmark = pytest.mark.integration


@pytest.fixture
def log_cfg(live_services, make_cfg, tmp_path: Path, unique: str):
    cfg = make_cfg(
        **edge_overrides(tmp_path),
        kafka={"topics": {"edge_logs": f"edge-logs-test-{unique}"}},
    )
    edges.up(cfg, ["t-a-1", "t-a-2"])
    yield cfg
    edges.down(cfg)
    kafka_io.delete_topic(cfg, cfg.kafka.topics.edge_logs)


def ingest(spark, cfg) -> dict[str, int]:
    await_query(logs.start_ingest(spark, cfg, once=True))
    return logs.table_counts(spark, cfg)


@pytest.mark.slow
def test_log_lines_land_in_edge_requests_once_each(spark, log_cfg) -> None:
    put_origin(log_cfg, "videos/L1/360p/seg-00001.m4s", os.urandom(SEG))
    put_origin(log_cfg, "videos/L1/360p/seg-00002.m4s", os.urandom(SEG // 2))
    lay1, lay2 = edges.layout(log_cfg, "t-a-1"), edges.layout(log_cfg, "t-a-2")
    held = lay1.prefill / "videos/L1/360p/init.m4s"
    held.parent.mkdir(parents=True)
    held.write_bytes(os.urandom(1000))
    cmcd = "CMCD=br%3D365%2Csid%3D%22cmcd-session%22"
    sent: dict[str, list[tuple[int, str, int]]] = {"t-a-1": [], "t-a-2": []}
    plan = [
        (lay1, "/videos/L1/360p/seg-00001.m4s?sid=s-1&br=365", {}),
        (lay1, "/videos/L1/360p/seg-00001.m4s?sid=s-1&br=365", {}),
        (lay1, "/videos/L1/360p/seg-00002.m4s?" + cmcd, {"Range": "bytes=0-999"}),
        (lay1, "/videos/L1/360p/init.m4s", {}),
        (lay1, "/videos/L1/360p/seg-00009.m4s", {}),
        (lay1, "/videos/L1/../../etc/passwd", {}),
        (lay2, "/videos/L1/360p/seg-00002.m4s", {}),
        (lay2, "/videos/L1/360p/seg-00002.m4s", {}),
    ]
    for lay, path, headers in plan:
        status, resp, body = get(lay.base_url, path, headers=headers)
        sent[lay.edge.id].append((status, resp.get("x-cache", ""), len(body)))
    log_lines(lay1, 6)
    log_lines(lay2, 2)
    with open(lay1.access_log, "ab") as out:  # a torn and a foreign line, as a disk might hold
        out.write(b'{"request_id": "nope", "edge": "t-a-1"}\n')
        out.write(b"garbage that is not json\n")
    assert logs.ship(log_cfg, once=True, log=lambda _: None) == 10
    assert logs.ship(log_cfg, once=True, log=lambda _: None) == 0  # offsets: nothing twice

    counts = ingest(spark, log_cfg)
    assert counts == {"bronze_edge_requests": 10, "edge_requests": 8, "quarantine_edge_requests": 2}
    tables = Tables(log_cfg)
    rows = tables.read(spark, "edge_requests").collect()
    by_edge = {e: sorted(r for r in rows if r["edge_id"] == e) for e in sent}
    assert {e: len(v) for e, v in by_edge.items()} == {e: len(v) for e, v in sent.items()}
    for edge_id, answers in sent.items():
        got = sorted((r["status"], r["cache_status"], r["bytes"]) for r in by_edge[edge_id])
        assert got == sorted(answers)
    cmcd_row = next(r for r in rows if r["range"] == "bytes=0-999")
    assert (cmcd_row["session_id"], cmcd_row["bitrate_kbps"]) == ("cmcd-session", 365)
    args_row = next(r for r in rows if r["session_id"] == "s-1" and r["cache_status"] == "MISS")
    assert args_row["bitrate_kbps"] == 365 and args_row["upstream_bytes"] >= SEG
    reasons = sorted(r["reason"] for r in tables.read(spark, "quarantine_edge_requests").collect())
    assert reasons == ["not an edge log line", "request_id is not 32 hex digits"]

    # a shipper that crashed after Kafka's ack but before saving its offset sends again:
    # the lines reach bronze twice, edge_requests still once
    logs.offset_path(lay1).unlink()
    assert logs.ship(log_cfg, ["t-a-1"], once=True, log=lambda _: None) == 8
    counts = ingest(spark, log_cfg)
    assert counts["edge_requests"] == 8 and counts["bronze_edge_requests"] == 18

    today = datetime.now(UTC).date()
    assert logs.gold_daily(spark, log_cfg, today, log=lambda _: None) == {
        "date": today.isoformat(),
        "edges": 2,
    }
    gold = {r["edge_id"]: r for r in tables.read(spark, "gold_edge_daily").collect()}
    for edge_id, answers in sent.items():
        served = sum(n for _, _, n in answers)
        local = sum(n for _, cache, n in answers if cache in ("PREFILL", "HIT"))
        g = gold[edge_id]
        assert (g["requests"], g["bytes_served"]) == (len(answers), served)
        assert g["byte_hit_ratio"] == pytest.approx(local / served)
        assert g["errors"] == sum(1 for s, _, _ in answers if s >= 400)
        assert g["ttfb_p50_ms"] is not None and g["ttfb_p95_ms"] >= g["ttfb_p50_ms"]
    # one MISS, then a HIT: the body once, plus the origin's response header
    assert SEG // 2 < gold["t-a-2"]["origin_bytes"] < SEG // 2 + 4096
