"""The Great Expectations suite on tiny frames: GX picks the failing rows and names the rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F

from vodlake.schemas import BRONZE_PLAYBACK
from vodlake.telemetry import generator as ps
from vodlake.telemetry.quality import (
    PlaybackQuality,
    RowRules,
    build_rules,
    with_lead,
    witness_key,
)
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


# ----------------------------------------------------------------------------------------------
# The suite compiled to Spark predicates (RowRules): the ingest's one-pass verdict


@pytest.fixture(scope="module")
def broken(spark, valid_rows):
    """The 40 valid rows with one break (BREAKS) in each of the first chunk rows, and the
    reason each broken row must get."""
    rows, schema = valid_rows
    chunk_at = [i for i, r in enumerate(rows) if r["event_type"] == "chunk"]
    changed = [dict(r) for r in rows]
    expected: dict[int, str] = {}
    for (_, change, rule), i in zip(BREAKS, chunk_at, strict=False):
        changed[i].update(change)
        expected[changed[i]["kafka_offset"]] = f"gx:{rule}"
    return _frame(spark, changed, schema), expected


def _witness_stats(rules: RowRules, frame):
    witnesses = rules.witness_aggregates(with_lead(F.col), F.lit(True), witness_key())
    return frame.agg(*witnesses).first()


def test_the_whole_suite_compiles_in_suite_order(quality) -> None:
    assert quality.row_rules is not None
    assert [r.rule for r in quality.row_rules.rules] == quality.rule_order


def test_compiled_rules_give_gxs_row_verdicts(quality, broken) -> None:
    frame, expected = broken
    reasons = frame.select("kafka_offset", quality.row_rules.reason(with_lead(F.col)).alias("r"))
    compiled = {r.kafka_offset: r.r for r in reasons.where("r IS NOT NULL").collect()}
    by_gx = {r.kafka_offset: r.reason for r in quality.validate(frame).failed.collect()}
    assert compiled == by_gx == expected


def test_gx_passes_the_witnesses_of_a_clean_batch(spark, quality, valid_rows) -> None:
    clean = _frame(spark, *valid_rows)
    stats = _witness_stats(quality.row_rules, clean)
    assert len(RowRules.witness_keys(stats)) > 1
    outcome = quality.confirm(clean, stats)
    assert outcome.success
    assert outcome.failed.count() == 0


def test_gx_catches_what_a_wrong_predicate_lets_through(quality, broken) -> None:
    """Compiled predicates that miss a rule: GX finds it among the witnesses, then checks every
    row, and the rows it rejects are the ones the suite rejects."""
    frame, expected = broken
    full = quality.row_rules
    blind = RowRules(tuple(r for r in full.rules if r.rule != "device_allowed"))
    slipped = frame.where(blind.reason(with_lead(F.col)).isNull())  # what `blind` passes
    assert slipped.where("device = 'toaster'").count() == 1
    outcome = quality.confirm(slipped, _witness_stats(full, slipped))
    assert not outcome.success
    failed = {r.kafka_offset: r.reason for r in outcome.failed.collect()}
    assert failed == {k: v for k, v in expected.items() if v == "gx:device_allowed"}
    assert outcome.passed.where("device = 'toaster'").count() == 0


def test_an_expectation_it_cannot_compile_leaves_every_row_to_gx(quality) -> None:
    import great_expectations as gx

    odd = gx.expectations.ExpectColumnValuesToBeBetween(column="bytes", min_value=0, mostly=0.9)
    odd.meta = {"rule": "mostly_small"}
    assert RowRules.compile([*quality.suite.expectations, odd]) is None
