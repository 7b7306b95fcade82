"""transforms.edge_logs on small frames: parsing nginx lines, reasons, and the daily gold."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F

from vodlake.schemas import EDGE_FILLS
from vodlake.transforms.edge_logs import gold_edge_daily, parse_edge_logs, valid_requests

T0 = 1_796_000_000.0
WHEN = datetime.fromtimestamp(T0, UTC).replace(tzinfo=None)  # the session time zone is UTC


def _line(**kw: object) -> str:
    base = {
        "request_id": "a" * 32, "time": "", "msec": f"{T0:.3f}", "edge": "e1",
        "client": "127.1.0.5", "method": "GET", "path": "/videos/v1/360p/seg-00001.m4s",
        "status": "200", "bytes": "1000", "range": "", "cache": "PREFILL",
        "request_time": "0.002", "upstream_time": "", "upstream_header_time": "",
        "upstream_bytes": "", "upstream_status": "", "sid": "", "br": "", "cmcd": "",
    }  # fmt: skip
    base.update({k: str(v) for k, v in kw.items()})
    return json.dumps(base)


def _bronze(spark, values: list[tuple[str, str]]):
    rows = [(k, v.encode(), "edge-logs", 0, i) for i, (k, v) in enumerate(values)]
    return spark.createDataFrame(
        rows, "key string, value binary, topic string, partition int, offset long"
    )


def test_lines_parse_with_cmcd_and_upstream_lists_and_bad_lines_get_reasons(spark) -> None:
    values = [
        ("e1", _line()),
        ("e1", _line(request_id="b" * 32, cache="MISS", upstream_time="0.010, 0.020",
                     upstream_header_time="0.004, 0.008", upstream_bytes="500, 1400",
                     upstream_status="502, 200", cmcd="br%3D730%2Csid%3D%22s-9%22")),
        ("e1", _line(request_id="c" * 32, sid="s-1", br="365", cmcd="br%3D1%2Csid%3D%22x%22")),
        ("e1", "not json"),
        ("e2", _line(request_id="d" * 32)),
        ("e1", _line(request_id="e" * 32, status="abc")),
        ("e1", _line(request_id="f" * 32, msec="-")),
    ]  # fmt: skip
    parsed = parse_edge_logs(_bronze(spark, values)).orderBy("kafka_offset").collect()
    assert [r["reason"] for r in parsed] == [
        None,
        None,
        None,
        "not an edge log line",
        "edge does not match the Kafka key",
        "status is not an HTTP status",
        "msec is not a number",
    ]
    first, miss, args = parsed[:3]
    assert first["request_time"] == WHEN
    assert (first["date"], first["video_id"], first["session_id"]) == (WHEN.date(), "v1", None)
    assert (miss["upstream_s"], miss["upstream_header_s"], miss["upstream_bytes"]) == (
        0.010,
        0.004,
        1900,
    )
    assert (miss["session_id"], miss["bitrate_kbps"]) == ("s-9", 730)
    assert (args["session_id"], args["bitrate_kbps"]) == ("s-1", 365)  # plain args win
    doubled = _bronze(spark, [("e1", _line()), ("e1", _line())])
    assert valid_requests(parse_edge_logs(doubled)).count() == 1


def test_gold_counts_bytes_by_origin_of_the_bytes_and_fills_by_source(spark) -> None:
    values = [
        ("e1", _line(request_id="1" * 32, bytes=1000, cache="PREFILL", request_time="0.001")),
        ("e1", _line(request_id="2" * 32, bytes=3000, cache="HIT", request_time="0.003")),
        ("e1", _line(request_id="3" * 32, bytes=4000, cache="MISS", request_time="0.050",
                     upstream_header_time="0.020", upstream_bytes="4300")),
        ("e1", _line(request_id="4" * 32, bytes=150, status=404, cache="NONE", path="/x")),
    ]  # fmt: skip
    requests = valid_requests(parse_edge_logs(_bronze(spark, values)))
    day = WHEN.date()
    at = WHEN
    fills = spark.createDataFrame(
        [
            (day, "e1", "r", "v", "v/a/0", "p1", 700, "peer:e2", 0.1, "filled", None, None, at),
            (day, "e1", "r", "v", "v/a/1", "p2", 900, "origin", 0.1, "filled", None, None, at),
            (day, "e1", "r", "v", "v/a/2", "p3", 999, "origin", 0.1, "rejected", "x", None, at),
            (day, "e3", "r", "v", "v/a/0", "p1", 50, "origin", 0.1, "filled", None, None, at),
        ],
        EDGE_FILLS,
    ).withColumn("day", F.to_date("filled_at"))
    gold = {r["edge_id"]: r for r in gold_edge_daily(requests, fills).collect()}
    e1 = gold["e1"]
    assert (e1["requests"], e1["errors"], e1["bytes_served"]) == (4, 1, 8150)
    assert (e1["prefill_bytes"], e1["hit_bytes"], e1["miss_bytes"]) == (1000, 3000, 4150)
    assert e1["byte_hit_ratio"] == pytest.approx(4000 / 8150)
    assert (e1["origin_bytes"], e1["fill_bytes_peer"], e1["fill_bytes_origin"]) == (4300, 700, 900)
    assert e1["ttfb_p50_ms"] == pytest.approx(3.0) and e1["ttfb_p95_ms"] == pytest.approx(20.0)
    e3 = gold["e3"]  # filled but served nothing that day
    assert (e3["requests"], e3["fill_bytes_origin"], e3["byte_hit_ratio"]) == (0, 50, None)
