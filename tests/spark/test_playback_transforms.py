"""Pure playback transforms on tiny frames: every bad-data class gets its reason, dedupe, order."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from vodlake.schemas import BRONZE_PLAYBACK, QUARANTINE, SILVER_PLAYBACK
from vodlake.telemetry import generator as ps
from vodlake.transforms import playback as tp

UTC = timezone.utc
RECEIVED = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
MAX_BYTES = 2048
SKEW_S = 300


def _events(n_sessions: int = 3, seed: int = 11) -> list[dict]:
    from vodlake.config import load_config

    catalog = ps.synthetic_catalog(5, seed)
    events = ps.generate(catalog, load_config("test").topology, 1, n_sessions, seed)
    return list(events)


EVENTS = _events()
GOOD = next(e for e in EVENTS if e["event_type"] == "chunk")


def _bronze(spark, payloads: list[bytes | str | None], received: datetime = RECEIVED):
    """Bronze-shaped rows (as the bronze query writes them), one per payload, offsets 0.."""
    rows = []
    for i, p in enumerate(payloads):
        value = p.encode() if isinstance(p, str) else p
        rows.append(
            (
                None,
                bytearray(value) if value is not None else None,
                "t",
                i % 2,
                i,
                received,
                received,
                0,
            )
        )
    return spark.createDataFrame(rows, BRONZE_PLAYBACK)


def assert_same_rows(actual, expected) -> None:
    """Same rows in any order (pyspark.testing needs pandas < 3, which this venv does not have)."""
    assert actual.schema == expected.schema
    assert sorted(actual.collect()) == sorted(expected.collect())


def _parse(spark, payloads, received: datetime = RECEIVED):
    return tp.parse_playback(_bronze(spark, payloads, received), MAX_BYTES, SKEW_S)


def _with(**changes) -> str:
    event = dict(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            event.pop(key)
        else:
            event[key] = value
    return json.dumps(event)


_DROP = object()


def test_valid_events_parse_to_their_typed_values(spark) -> None:
    sample = EVENTS[:40]
    parsed = _parse(
        spark, [json.dumps(e) for e in sample], received=datetime(2027, 1, 1, tzinfo=UTC)
    )
    rows = parsed.orderBy("kafka_offset").collect()
    assert [r.reason for r in rows] == [None] * len(sample)
    for row, event in zip(rows, sample, strict=True):
        for name in tp.EVENT_FIELDS:
            got = row[name]
            if name == "event_time":
                got = ps.format_event_time(round(got.timestamp() * 1000))
            assert got == event[name], name
        assert row.event_date == row.event_time.astimezone(UTC).date()


BAD = [
    ("oversized", _with(pad="x" * MAX_BYTES), "oversized_payload"),
    ("not json", "not json", "malformed_json"),
    ("truncated", _with()[:-5], "malformed_json"),
    ("array", json.dumps([GOOD]), "malformed_json"),
    ("scalar", "42", "malformed_json"),
    ("empty", "", "malformed_json"),
    ("null value", None, "malformed_json"),
    ("trailing text", _with() + " trailing", "malformed_json"),
    ("invalid utf-8", b"\xff\xfe{\x00", "malformed_json"),
    ("no event_id", _with(event_id=_DROP), "missing_field:event_id"),
    ("null session_id", _with(session_id=None), "missing_field:session_id"),
    ("blank user_id", _with(user_id="  "), "missing_field:user_id"),
    ("no event_time", _with(event_time=_DROP), "missing_field:event_time"),
    ("no event_type", _with(event_type=_DROP), "missing_field:event_type"),
    ("chunk_idx as text", _with(chunk_idx="5"), "wrong_type:chunk_idx"),
    ("bytes as float", _with(bytes=1.5), "wrong_type:bytes"),
    ("startup_ms as bool", _with(startup_ms=True), "wrong_type:startup_ms"),
    ("rebuffer_ms overflow", _with(rebuffer_ms=10**12), "wrong_type:rebuffer_ms"),
    ("event_time as number", _with(event_time=1_700_000_000), "wrong_type:event_time"),
    ("event_time date only", _with(event_time="2026-11-01"), "wrong_type:event_time"),
    ("event_time no zone", _with(event_time="2026-11-01T10:00:00.000"), "wrong_type:event_time"),
    ("event_time words", _with(event_time="yesterday"), "wrong_type:event_time"),
    ("unknown event type", _with(event_type="pause"), "unknown_event_type"),
    (
        "future",
        _with(event_time=ps.format_event_time(int((RECEIVED.timestamp() + 3600) * 1000))),
        "future_timestamp",
    ),
]


@pytest.fixture(scope="module")
def classified(spark) -> dict[str, tuple[str | None, str | None]]:
    """Every bad payload in one frame, between valid events (one Spark job for all cases)."""
    payloads: list = []
    for _, payload, _ in BAD:
        payloads += [payload, _with()]
    rows = _parse(spark, payloads).orderBy("kafka_offset").collect()
    assert len(rows) == len(payloads)  # nothing dropped, nothing added
    assert [r.reason for r in rows[1::2]] == [None] * len(BAD)  # a bad row never spoils another
    return {
        case: (row.reason, row.raw_value) for (case, _, _), row in zip(BAD, rows[::2], strict=True)
    }


@pytest.mark.parametrize(("case", "payload", "reason"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_data_class_gets_its_reason(classified, case, payload, reason) -> None:
    got_reason, raw_value = classified[case]
    assert got_reason == reason
    raw = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    assert raw_value == raw


def test_valid_and_rejected_split_every_row(spark) -> None:
    payloads = [b[1] for b in BAD] + [json.dumps(e) for e in EVENTS[:10]]
    parsed = _parse(spark, payloads)
    assert tp.rejected_events(parsed).count() == len(BAD)
    assert tp.valid_events(parsed).count() == 10


def test_within_skew_is_not_future_and_the_reference_is_arrival_not_the_clock(spark) -> None:
    soon = ps.format_event_time(int((RECEIVED.timestamp() + SKEW_S - 1) * 1000))
    late = ps.format_event_time(int((RECEIVED.timestamp() + SKEW_S + 1) * 1000))
    rows = _parse(spark, [_with(event_time=soon), _with(event_time=late)]).orderBy("kafka_offset")
    assert [r.reason for r in rows.collect()] == [None, "future_timestamp"]


def test_dedupe_keeps_one_copy_whatever_the_arrival_order(spark) -> None:
    sample = EVENTS[:30]
    payloads = [json.dumps(e) for e in sample] + [json.dumps(e) for e in sample[:10]] * 2
    results = []
    for seed in range(2):
        shuffled = payloads[:]
        random.Random(seed).shuffle(shuffled)
        deduped = tp.dedupe_events(tp.valid_events(_parse(spark, shuffled)))
        rows = tp.to_silver(deduped).drop("kafka_partition", "kafka_offset").collect()
        assert sorted(r.event_id for r in rows) == sorted(e["event_id"] for e in sample)
        results.append(sorted(rows))
    assert results[0] == results[1]  # the same copy survives whatever the order


def test_dedupe_prefers_the_earliest_event_time_then_position(spark) -> None:
    base = datetime(2026, 11, 2, tzinfo=UTC)
    rows = [
        Row(
            event_id="e", event_time=base + timedelta(seconds=5), kafka_partition=0, kafka_offset=1
        ),
        Row(event_id="e", event_time=base, kafka_partition=1, kafka_offset=9),
        Row(event_id="e", event_time=base, kafka_partition=0, kafka_offset=7),
        Row(event_id="f", event_time=base, kafka_partition=1, kafka_offset=2),
    ]
    out = tp.dedupe_events(spark.createDataFrame(rows)).orderBy("event_id").collect()
    assert [(r.event_id, r.kafka_partition, r.kafka_offset) for r in out] == [
        ("e", 0, 7),
        ("f", 1, 2),
    ]


def test_out_of_order_session_events_reassemble_by_event_time(spark) -> None:
    """One session's events shuffled and spread over partitions: event time restores the order."""
    session = EVENTS[0]["session_id"]
    ordered = [e for e in EVENTS if e["session_id"] == session]
    assert len(ordered) > 3
    shuffled = ordered[:]
    random.Random(5).shuffle(shuffled)
    parsed = _parse(spark, [json.dumps(e) for e in shuffled])
    assert parsed.select("kafka_partition").distinct().count() == 2
    rebuilt = (
        tp.to_silver(tp.dedupe_events(tp.valid_events(parsed)))
        .orderBy("event_time", "event_id")
        .collect()
    )
    assert [r.event_id for r in rebuilt] == [e["event_id"] for e in ordered]
    assert rebuilt[0].event_type == "start"
    assert rebuilt[-1].event_type in ("stop", "error")


def test_event_time_is_the_same_instant_in_any_notation_and_session_time_zone(spark) -> None:
    texts = [
        "2026-11-02T23:30:00Z",
        "2026-11-02T23:30:00.5Z",
        "2026-11-02T23:30:00.123456Z",
        "2026-11-02T23:30:00.123456789Z",  # nanoseconds: truncated to microseconds
        "2026-11-03T01:30:00.250+02:00",
        "2026-11-02T18:30:00-05:00",
        "1969-12-31T23:59:59.999999Z",
    ]
    expected = [
        datetime(2026, 11, 2, 23, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 30, 0, 500000, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 30, 0, 250000, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 30, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    previous = spark.conf.get("spark.sql.session.timeZone")
    for zone in ("UTC", "America/Los_Angeles", "Asia/Kolkata"):
        spark.conf.set("spark.sql.session.timeZone", zone)
        try:
            rows = (
                _parse(spark, [_with(event_time=t) for t in texts])
                .orderBy("kafka_offset")
                .select("reason", F.unix_micros("event_time").alias("us"))
                .collect()
            )
        finally:
            spark.conf.set("spark.sql.session.timeZone", previous)
        assert [r.reason for r in rows] == [None] * len(texts), zone
        assert [r.us for r in rows] == [
            (e - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for e in expected
        ], zone


def test_json_whitespace_around_the_object_is_accepted(spark) -> None:
    payloads = [" " + _with() + "\n", "\r\n\t" + _with() + "  ", _with() + " x"]
    rows = _parse(spark, payloads).orderBy("kafka_offset").collect()
    assert [r.reason for r in rows] == [None, None, "malformed_json"]


def test_event_date_is_the_utc_date_whatever_the_session_time_zone(spark) -> None:
    near_midnight = _with(event_time="2026-11-02T23:30:00.000Z")
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
    try:
        row = _parse(spark, [near_midnight]).collect()[0]
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)
    assert row.reason is None
    assert str(row.event_date) == "2026-11-02"


def test_output_shapes_match_the_table_schemas(spark) -> None:
    parsed = _parse(spark, [_with(), "bad"])
    assert tp.to_silver(tp.valid_events(parsed)).schema.names == SILVER_PLAYBACK.names
    quarantine = tp.to_quarantine(tp.rejected_events(parsed))
    assert quarantine.schema.names == QUARANTINE.names
    row = quarantine.collect()[0]
    assert (row.source, row.reason, row.raw_value) == ("bronze_playback", "malformed_json", "bad")
    kafka = spark.createDataFrame(
        [(b"k", b"v", "t", 0, 5, RECEIVED)],
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp",
    )
    bronze = tp.bronze_from_kafka(kafka, 3)
    assert bronze.schema.names == BRONZE_PLAYBACK.names
    assert bronze.collect()[0].batch_id == 3


def test_removed_duplicates_counts_copies_not_lost_rows(spark) -> None:
    """bronze = silver + quarantine + removed duplicates, and a lost row breaks the equation."""
    a, b, c = (json.dumps(e) for e in EVENTS[:3])
    bronze = _bronze(spark, [a, b, a, "bad", c, a])
    parsed = tp.parse_playback(bronze, MAX_BYTES, SKEW_S)

    def table(df):  # small tables, as they would be read back from Delta
        return spark.createDataFrame(df.collect(), df.schema)

    silver = table(tp.to_silver(tp.dedupe_events(tp.valid_events(parsed))))
    quarantine = table(tp.to_quarantine(tp.rejected_events(parsed)))
    dups = tp.removed_duplicates(bronze, silver, quarantine).collect()
    assert sorted(r.kafka_offset for r in dups) == [2, 5]  # the later copies of a
    assert bronze.count() == silver.count() + quarantine.count() + len(dups) == 3 + 1 + 2
    lost = table(silver.where(F.col("event_id") != EVENTS[2]["event_id"]))  # c lost
    # c is neither in silver, nor quarantined, nor a copy of a silver row: unaccounted
    assert len(tp.removed_duplicates(bronze, lost, quarantine).collect()) == 2
    assert lost.count() + quarantine.count() + 2 != bronze.count()


def test_only_rejected_rows_keep_their_text_and_the_quality_rejects_get_it_from_bronze(
    spark,
) -> None:
    payloads = [json.dumps(e) for e in EVENTS[:3]] + ["not json"]
    bronze = _bronze(spark, payloads)
    parsed = tp.parse_playback(bronze, MAX_BYTES, SKEW_S).orderBy("kafka_offset").collect()
    assert [r.raw_value for r in parsed] == [None, None, None, "not json"]
    # a row the quality suite rejected (valid to the parser): its text comes back from bronze
    flagged = tp.valid_events(tp.parse_playback(bronze, MAX_BYTES, SKEW_S)).where(
        "kafka_offset = 1"
    )
    got = tp.with_raw_value(flagged.withColumn("reason", F.lit("gx:rule")), bronze).collect()
    assert [(r.kafka_offset, r.reason, r.raw_value) for r in got] == [(1, "gx:rule", payloads[1])]


def test_duplicate_candidates_are_ids_seen_twice_in_the_batch_or_already_stored(spark) -> None:
    events = spark.createDataFrame([(i,) for i in ["a", "b", "b", "c", "d"]], "event_id string")
    stored = spark.createDataFrame([(i,) for i in ["c", "x", "y", "y"]], "event_id string")
    got = sorted(r.event_id for r in tp.duplicate_candidates(events, stored).collect())
    assert got == ["b", "c", "y"]  # y: twice in silver, hours apart; the exact rules decide


def test_carried_bronze_columns_pass_through_the_parse_unchanged(spark) -> None:
    """The ingest caches bronze's columns beside the parse: one read of Kafka feeds both."""
    payloads = [json.dumps(EVENTS[0]), "not json", None]
    bronze = _bronze(spark, payloads)
    carry = tuple(BRONZE_PLAYBACK.names)
    parsed = tp.parse_playback(bronze, MAX_BYTES, SKEW_S, carry=carry)
    assert parsed.columns[-len(carry) :] == list(carry)
    got = parsed.orderBy("kafka_offset").select(*carry).collect()
    assert got == bronze.orderBy("offset").collect()
    plain = tp.parse_playback(bronze, MAX_BYTES, SKEW_S)
    by_offset = "kafka_offset"
    assert parsed.drop(*carry).orderBy(by_offset).collect() == plain.orderBy(by_offset).collect()
