"""The Great Expectations suite on tiny frames: GX picks the failing rows and names the rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from vodlake.schemas import BRONZE_PLAYBACK
from vodlake.telemetry import generator as ps
from vodlake.telemetry.quality import PlaybackQuality, build_rules
from vodlake.transforms import playback as tp

UTC = timezone.utc
RECEIVED = datetime(2026, 11, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def quality(cfg) -> PlaybackQuality:
    return PlaybackQuality(cfg)


@pytest.fixture(scope="module")
def valid_rows(spark, cfg) -> tuple[list[dict], object]:
    """40 parsed, valid generator events as dicts, and the parsed frame's schema."""
    events = list(ps.generate(ps.synthetic_catalog(4, 3), cfg.topology, 1, 8, 3))[:40]
    bronze = spark.createDataFrame(
        [
            (None, bytearray(json.dumps(e).encode()), "t", 0, i, RECEIVED, RECEIVED, 0)
            for i, e in enumerate(events)
        ],
        BRONZE_PLAYBACK,
    )
    parsed = tp.valid_events(tp.parse_playback(bronze, 4096, 300)).drop("reason")
    rows = [r.asDict() for r in parsed.orderBy("kafka_offset").collect()]
    assert len(rows) == 40
    return rows, parsed.schema


def _frame(spark, rows, schema):
    return spark.createDataFrame(rows, schema)


# (change to one row, the rule that must reject it); chunk rows are changed unless noted
BREAKS: list[tuple[str, dict, str]] = [
    ("null event_id", {"event_id": None}, "event_id_not_null"),
    ("null video_id", {"video_id": None}, "video_id_not_null"),
    ("unknown event type", {"event_type": "pause"}, "event_type_allowed"),
    ("future", {"event_time": RECEIVED + timedelta(hours=2)}, "event_time_not_future"),
    ("ancient", {"event_time": datetime(1990, 1, 1, tzinfo=UTC)}, "event_time_after_2000"),
    ("negative bytes", {"bytes": -1}, "bytes_in_range"),
    ("negative chunk", {"chunk_idx": -3}, "chunk_idx_in_range"),
    ("startup of an hour", {"startup_ms": 3_600_000}, "startup_ms_in_range"),
    ("chunk without index", {"chunk_idx": None}, "chunk_has_index"),
    ("chunk of zero bytes", {"bytes": 0}, "chunk_has_bytes"),
    ("unknown device", {"device": "toaster"}, "device_allowed"),
    ("bad cache status", {"cache_status": "maybe"}, "cache_status_allowed"),
    ("unknown region", {"region": "mars"}, "region_allowed"),
    ("unknown isp", {"isp": "acme"}, "isp_allowed"),
    ("unknown edge", {"edge_id": "nowhere-1"}, "edge_id_allowed"),
    # two broken rules: the first in suite order is the reason
    ("two rules", {"device": "toaster", "event_id": None}, "event_id_not_null"),
]


def test_every_rule_is_in_the_suite(cfg) -> None:
    names = [name for name, _ in build_rules(cfg)]
    assert len(names) == len(set(names))
    assert {b[2] for b in BREAKS} <= set(names)


def test_gx_tags_each_failing_row_with_its_rule(spark, quality, valid_rows) -> None:
    rows, schema = valid_rows
    chunk_at = [i for i, r in enumerate(rows) if r["event_type"] == "chunk"]
    assert len(chunk_at) >= len(BREAKS)
    broken = [dict(r) for r in rows]
    expected: dict[int, str] = {}
    for (_, change, rule), i in zip(BREAKS, chunk_at, strict=False):
        broken[i].update(change)
        expected[broken[i]["kafka_offset"]] = f"gx:{rule}"
    batch = _frame(spark, broken, schema).persist()
    outcome = quality.validate(batch)
    failed = {r.kafka_offset: r.reason for r in outcome.failed.collect()}
    assert failed == expected
    assert outcome.passed.count() == len(rows) - len(BREAKS)
    assert not outcome.success
    assert outcome.failures["device_allowed"] == 2  # counted per rule, as GX reports
    assert set(outcome.passed.columns) == set(batch.columns)
    batch.unpersist()


def test_a_clean_batch_passes_whole(spark, quality, valid_rows) -> None:
    rows, schema = valid_rows
    outcome = quality.validate(_frame(spark, rows, schema))
    assert outcome.success
    assert outcome.failures == {}
    assert outcome.failed.count() == 0
    assert outcome.passed.count() == len(rows)
