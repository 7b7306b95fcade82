"""Playback ingest against the real broker and Delta: exact counts, quarantine, order, recovery.

Every test has its own topic, tables and checkpoints (tmp_path). Expected results come from the
deterministic generator, so "exactly the unique valid events" is checked row by row.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from vodlake.lake import kafka_io
from vodlake.schemas import SILVER_PLAYBACK
from vodlake.telemetry import generator as ps

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc


def _events(seed: int, sessions: int) -> list[dict[str, Any]]:
    from vodlake.config import load_config

    topology = load_config("test").topology
    return list(ps.generate(ps.synthetic_catalog(30, seed), topology, 1, sessions, seed))


def _bad_records(good: dict[str, Any]) -> list[tuple[bytes, str]]:
    """(raw value, expected quarantine reason): every bad-data class, and rule breaks GX finds."""
    future = ps.format_event_time(int((time.time() + 86_400) * 1000))

    def variant(tag: str, **changes: Any) -> bytes:
        event = {**good, "event_id": f"bad-{tag}", **changes}
        return json.dumps({k: v for k, v in event.items() if v is not _DROP}).encode()

    return [
        (b'{"event_id": "bad-json", ', "malformed_json"),
        (b"[1, 2, 3]", "malformed_json"),
        (variant("type", chunk_idx="7"), "wrong_type:chunk_idx"),
        (variant("time", event_time="last tuesday"), "wrong_type:event_time"),
        (variant("missing", session_id=_DROP), "missing_field:session_id"),
        (variant("big", pad="x" * 5000), "oversized_payload"),
        (variant("kind", event_type="seek"), "unknown_event_type"),
        (variant("future", event_time=future), "future_timestamp"),
        (variant("device", device="toaster"), "gx:device_allowed"),
        (variant("bytes", bytes=-5), "gx:bytes_in_range"),
        (variant("region", region="mars"), "gx:region_allowed"),
    ]


_DROP: Any = object()


def _send_raw(cfg, topic: str, records: list[tuple[bytes | None, bytes, int | None]]) -> None:
    """Send (key, value, partition) records as they are; partition None lets the key decide."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=cfg.kafka.bootstrap_servers,
        acks="all",
        max_in_flight_requests_per_connection=1,
    )
    try:
        futures = [producer.send(topic, key=k, value=v, partition=p) for k, v, p in records]
        producer.flush()
        for fut in futures:
            fut.get(timeout=30)
    finally:
        producer.close()


def _silver_rows(spark, cfg) -> list[tuple]:
    from vodlake.lake.tables import Tables

    df = Tables(cfg).read(spark, "silver_playback")
    return [
        (
            r.event_id,
            r.session_id,
            r.event_type,
            r.chunk_idx,
            r.bytes,
            r.rendition,
            ps.format_event_time(round(r.event_time.timestamp() * 1000)),
            str(r.event_date),
        )
        for r in df.collect()
    ]


def _expected_rows(events: list[dict[str, Any]]) -> list[tuple]:
    unique = {e["event_id"]: e for e in events}
    return [
        (
            e["event_id"],
            e["session_id"],
            e["event_type"],
            e["chunk_idx"],
            e["bytes"],
            e["rendition"],
            e["event_time"],
            e["event_time"][:10],
        )
        for e in unique.values()
    ]


def _quarantine(spark, cfg) -> dict[str, str]:
    from vodlake.lake.tables import Tables

    rows = Tables(cfg).read(spark, "quarantine_playback").collect()
    return {r.raw_value: r.reason for r in rows}


def _reconcile(cfg, capsys) -> tuple[int, str]:
    from vodlake.cli import main

    code = main(["reconcile", "playback", "--set", f"paths.home={cfg.paths.home}"])
    return code, capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# One availableNow run: exact counts, quarantine, ordering, reconciliation


@pytest.fixture(scope="module")
def ingested(live_services, spark, tmp_path_factory) -> dict[str, Any]:
    import uuid

    from vodlake.config import load_config
    from vodlake.telemetry import ingest as stream

    name = uuid.uuid4().hex[:8]
    topic = f"playback-{name}"
    home = tmp_path_factory.mktemp("playback-ingest")
    cfg = load_config(
        "test", overrides={"paths": {"home": str(home)}, "kafka": {"topics": {"playback": topic}}}
    )
    kafka_io.ensure_topic(cfg, topic, partitions=2)
    events = _events(seed=21, sessions=8)
    resent = events[::40]  # a retrying client sends some events twice
    sent = kafka_io.produce(cfg, topic, events + resent, key="session_id")
    # one session spread over both partitions in shuffled order, not keyed
    session = _events(seed=26, sessions=1)  # 37 events
    shuffled = session[:]
    random.Random(3).shuffle(shuffled)
    bad = _bad_records(events[0])
    raw = [(None, json.dumps(e).encode(), i % 2) for i, e in enumerate(shuffled)]
    raw += [(b"bad", value, None) for value, _ in bad]
    _send_raw(cfg, topic, raw)
    stream.run(spark, cfg, once=True, topic=topic)
    return {
        "cfg": cfg,
        "topic": topic,
        "events": events,
        "produced": sent + len(raw),
        "resent": len(resent),
        "session": session,
        "shuffled": shuffled,
        "bad": bad,
    }


def test_bronze_holds_every_record_once(ingested, spark) -> None:
    from vodlake.lake.tables import Tables

    cfg = ingested["cfg"]
    assert sum(kafka_io.end_offsets(cfg, ingested["topic"]).values()) == ingested["produced"]
    bronze = Tables(cfg).read(spark, "bronze_playback")
    assert bronze.count() == ingested["produced"]
    assert bronze.select("partition", "offset").distinct().count() == ingested["produced"]
    assert bronze.where(F.col("kafka_timestamp").isNull()).count() == 0


def test_silver_is_exactly_the_unique_valid_events(ingested, spark) -> None:
    from delta.tables import DeltaTable

    from vodlake.lake.tables import Tables

    cfg = ingested["cfg"]
    got = _silver_rows(spark, cfg)
    expected = _expected_rows(ingested["events"] + ingested["session"])
    assert len(got) == len(expected)  # nothing lost, nothing duplicated
    assert sorted(got) == sorted(expected)
    detail = DeltaTable.forPath(spark, Tables(cfg).path("silver_playback")).detail().first()
    assert detail.partitionColumns == ["event_date"]


def test_bad_data_is_quarantined_with_its_reason(ingested, spark) -> None:
    quarantine = _quarantine(spark, ingested["cfg"])
    expected = {value.decode(): reason for value, reason in ingested["bad"]}
    assert quarantine == expected


def test_a_session_spread_over_partitions_in_shuffled_order_comes_out_right(
    ingested, spark
) -> None:
    from vodlake.lake.tables import Tables

    session = ingested["session"]
    sid = session[0]["session_id"]
    bronze = Tables(ingested["cfg"]).read(spark, "bronze_playback")
    arrived = bronze.where(F.col("value").cast("string").contains(sid))
    assert arrived.select("partition").distinct().count() == 2  # really spread
    arrival = [
        json.loads(r.value)["event_id"] for r in arrived.orderBy("partition", "offset").collect()
    ]
    assert arrival != [e["event_id"] for e in session]  # really out of order
    rows = (
        Tables(ingested["cfg"])
        .read(spark, "silver_playback")
        .where(F.col("session_id") == sid)
        .orderBy("event_time")
        .collect()
    )
    assert [r.event_id for r in rows] == [e["event_id"] for e in session]
    assert [r.event_type for r in rows] == [e["event_type"] for e in session]
    assert rows[0].event_type == "start"


def test_reconciliation_holds_and_prints_the_equation(ingested, capsys) -> None:
    code, out = _reconcile(ingested["cfg"], capsys)
    produced, resent, bad = ingested["produced"], ingested["resent"], len(ingested["bad"])
    silver = produced - resent - bad
    assert code == 0, out
    assert f"{produced:,} = {silver:,} + {bad:,} + {resent:,}  -> holds" in out


def test_reconciliation_fails_when_a_silver_row_is_lost(ingested, spark, capsys) -> None:
    """The check can fail: delete one silver row in a copy of the lake and it exits 1."""
    import shutil

    from delta.tables import DeltaTable

    from vodlake.config import load_config
    from vodlake.lake.tables import Tables

    cfg = ingested["cfg"]
    home = Path(cfg.paths.home).parent / (Path(cfg.paths.home).name + "-copy")
    shutil.copytree(cfg.paths.lake, home / "lake")
    copy = load_config("test", overrides={"paths": {"home": str(home)}})
    victim = ingested["events"][5]["event_id"]
    DeltaTable.forPath(spark, Tables(copy).path("silver_playback")).delete(
        F.col("event_id") == victim
    )
    code, out = _reconcile(copy, capsys)
    assert code == 1
    assert "DOES NOT HOLD (unaccounted +1)" in out


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("limit", [50_000, 0], ids=["candidates-listed", "all-rows-exact"])
def test_silver_dedupe_matches_event_id_within_the_dedupe_window(
    spark, make_cfg, monkeypatch, limit
) -> None:
    """A copy within the dedupe window goes; the same id hours apart stays; replays add nothing.

    Both ways of deciding give this: the possible copies listed on the driver, and (over the
    candidate limit) the exact rules on every row.
    """
    from vodlake.lake.tables import Tables
    from vodlake.telemetry import ingest as playback
    from vodlake.telemetry.ingest import insert_new_events

    monkeypatch.setattr(playback, "CANDIDATE_LIMIT", limit)

    cfg = make_cfg()
    path = Tables(cfg).ensure(spark, "silver_playback")
    events = _events(seed=43, sessions=1)[:4]

    def insert(rows: list[dict[str, Any]], batch_id: int) -> None:
        typed = [
            {
                **e,
                "event_time": _instant(e["event_time"]),
                "event_date": _instant(e["event_time"]).date(),
                "kafka_partition": 0,
                "kafka_offset": i,
            }
            for i, e in enumerate(rows)
        ]
        df = spark.createDataFrame(typed, SILVER_PLAYBACK)
        insert_new_events(spark, path, df, "1 hour", app_id="t", batch_id=batch_id)

    insert(events[:3], 0)
    later = _instant(events[1]["event_time"]) + timedelta(hours=2)
    moved = {**events[1], "event_time": ps.format_event_time(round(later.timestamp() * 1000))}
    second = [events[0], moved, events[3]]  # a copy, the same id 2 h later, a new event
    insert(second, 1)
    insert(second, 1)  # the same batch replayed: Delta skips the transaction
    insert(second, 2)  # the same rows as a new batch: all already in silver
    got = [
        (r.event_id, ps.format_event_time(round(r.event_time.timestamp() * 1000)))
        for r in spark.read.format("delta").load(path).collect()
    ]
    expected = [(e["event_id"], e["event_time"]) for e in [*events[:3], moved, events[3]]]
    assert sorted(got) == sorted(expected)


def test_copies_in_later_batches_and_later_runs_go_through_the_id_index(
    live_services, spark, make_cfg, unique, monkeypatch
) -> None:
    """The dedupe's driver-side index of recent silver ids (RecentIds).

    A run of new ids never reads silver's window (out-of-order batches extend the index
    instead); copies arriving in a later micro-batch of the same run, or in a later run (a new
    query, whose index starts by reading silver), are removed; the same id hours later stays
    (the index only proposes candidates, the dedupe window decides)."""
    from vodlake.telemetry import ingest as stream

    topic = f"playback-index-{unique}"
    cfg = make_cfg(kafka={"topics": {"playback": topic}, "max_offsets_per_trigger": 25})
    kafka_io.ensure_topic(cfg, topic, partitions=2)
    events = _events(seed=47, sessions=2)[:70]  # runs of two batches each
    assert len(events) == 70
    reads: list[int] = []
    real_window = stream.silver_window

    def counted(spark_, path, window):
        reads.append(1)
        return real_window(spark_, path, window)

    monkeypatch.setattr(stream, "silver_window", counted)
    kafka_io.produce(cfg, topic, events[:40], key="session_id")
    stream.run(spark, cfg, once=True, topic=topic)
    assert reads == []  # batches of new ids only: no dedupe read of silver's window
    assert sorted(_silver_rows(spark, cfg)) == sorted(_expected_rows(events[:40]))

    later = _instant(events[20]["event_time"]) + timedelta(hours=3)
    moved = {**events[20], "event_time": ps.format_event_time(round(later.timestamp() * 1000))}
    # after the rest of the events: copies of this run's first ones (a later batch of the same
    # run) and of the first run's (known from silver when the new query's index loads)
    tail = [*events[40:], *events[40:45], *events[:5], moved]
    kafka_io.produce(cfg, topic, tail, key="session_id")
    stream.run(spark, cfg, once=True, topic=topic)
    assert reads  # the batches with candidates read silver, for those ids only
    expected = _expected_rows(events) + _expected_rows([moved])
    assert sorted(_silver_rows(spark, cfg)) == sorted(expected)


# ----------------------------------------------------------------------------------------------
# Recovery A: a running query is stopped mid-stream and restarted; bad data never stops it


def _wait(condition, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_stop_mid_stream_and_restart_loses_and_duplicates_nothing(
    live_services, spark, make_cfg, unique
) -> None:
    from vodlake.lake.tables import Tables
    from vodlake.telemetry import ingest as stream
    from vodlake.telemetry.reconcile import reconcile_playback

    topic = f"playback-stop-{unique}"
    cfg = make_cfg(
        kafka={"topics": {"playback": topic}, "max_offsets_per_trigger": 60},
        streaming={"trigger": "processingTime", "interval": "1 second"},
    )
    tables = Tables(cfg)
    kafka_io.ensure_topic(cfg, topic, partitions=2)
    events = _events(seed=43, sessions=4)  # 252 events
    first_part = len(events) // 3
    bad = _bad_records(events[0])
    kafka_io.produce(cfg, topic, events[:first_part], key="session_id")
    _send_raw(cfg, topic, [(b"bad", value, None) for value, _ in bad])

    query = stream.start_ingest(spark, cfg, topic=topic, once=False)
    try:
        # bad data is quarantined while the queries keep running
        _wait(
            lambda: (
                tables.exists(spark, "quarantine_playback")
                and tables.read(spark, "quarantine_playback").count() == len(bad)
            ),
            "the bad records in quarantine",
        )
        assert query.isActive
        assert query.exception() is None
        kafka_io.produce(cfg, topic, events[first_part:], key="session_id")
        total = len(events) + len(bad)
        _wait(
            lambda: tables.read(spark, "bronze_playback").count() > first_part + len(bad),
            "bronze to start on the second part",
        )
    finally:
        query.stop()
    at_stop = tables.read(spark, "bronze_playback").count()
    silver_at_stop = tables.read(spark, "silver_playback").count()
    assert at_stop < total or silver_at_stop < len(events)  # it really stopped mid-stream

    stream.run(spark, cfg, once=True, topic=topic)
    assert tables.read(spark, "bronze_playback").count() == total
    assert sorted(_silver_rows(spark, cfg)) == sorted(_expected_rows(events))
    assert _quarantine(spark, cfg) == {v.decode(): r for v, r in bad}

    # copies arriving after a restart, in a later batch, are removed against silver itself
    kafka_io.produce(cfg, topic, events[:20], key="session_id")
    stream.run(spark, cfg, once=True, topic=topic)
    assert sorted(_silver_rows(spark, cfg)) == sorted(_expected_rows(events))
    check = reconcile_playback(spark, cfg)
    assert (check.bronze, check.duplicates, check.holds) == (total + 20, 20, True)


# ----------------------------------------------------------------------------------------------
# Recovery B: the driver process is SIGKILLed inside a batch, twice, and restarted


def _driver(cfg, topic: str, log: Path, crash_at: str | None, mark: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("VODLAKE_PLAYBACK_CRASH_AT", None)
    env["VODLAKE_ENV"] = "test"
    env["PYTHONUNBUFFERED"] = "1"
    if crash_at:
        env["VODLAKE_PLAYBACK_CRASH_AT"] = crash_at
        env["VODLAKE_PLAYBACK_CRASH_MARK"] = str(mark)
    cmd = [
        str(REPO / ".venv" / "bin" / "vodlake"),
        "stream",
        "playback",
        "--once",
        "--set",
        f"paths.home={cfg.paths.home}",
        "--set",
        f"kafka.topics.playback={topic}",
        "--set",
        "kafka.max_offsets_per_trigger=100",
    ]
    if not Path(cmd[0]).exists():
        cmd = [sys.executable, "-m", "vodlake.cli", *cmd[1:]]
    out = log.open("w")
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _kill_when_marked(proc: subprocess.Popen, mark: Path, log: Path) -> str:
    deadline = time.monotonic() + 300
    while not mark.exists():
        if proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) early:\n{log.read_text()}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"the crash hook was never reached:\n{log.read_text()}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, mid-batch
    proc.wait(timeout=60)
    return mark.read_text().strip()


@pytest.mark.slow  # three driver processes, each starting its own JVM
def test_sigkill_mid_batch_and_restart_loses_and_duplicates_nothing(
    live_services, spark, make_cfg, unique, tmp_path
) -> None:
    from vodlake.lake.tables import Tables
    from vodlake.telemetry.ingest import INGEST_QUERY

    topic = f"playback-kill-{unique}"
    cfg = make_cfg(kafka={"topics": {"playback": topic}})
    tables = Tables(cfg)
    kafka_io.ensure_topic(cfg, topic, partitions=2)
    events = _events(seed=43, sessions=4)  # 252 events
    resent = events[::50]
    bad = _bad_records(events[0])[:4]
    # bad records between two parts, so that they fall in the batch killed in step 2
    kafka_io.produce(cfg, topic, events[:120], key="session_id")
    _send_raw(cfg, topic, [(b"bad", value, None) for value, _ in bad])
    kafka_io.produce(cfg, topic, events[120:] + resent, key="session_id")
    total = len(events) + len(resent) + len(bad)
    commits = Path(tables.checkpoint(INGEST_QUERY)) / "commits"

    def counts() -> tuple[int, int, int]:
        return tuple(
            tables.read(spark, t).count()
            for t in ("bronze_playback", "silver_playback", "quarantine_playback")
        )

    # 1: killed after batch 1 reached bronze, before quarantine, silver and Spark's commit
    mark = tmp_path / "mark-bronze"
    proc = _driver(cfg, topic, tmp_path / "run1.log", "bronze:1", mark)
    assert _kill_when_marked(proc, mark, tmp_path / "run1.log") == "bronze:1"
    bronze = tables.read(spark, "bronze_playback")
    in_batch_1 = bronze.where("batch_id = 1").count()
    assert in_batch_1 > 0  # the batch was written ...
    assert (commits / "0").exists() and not (commits / "1").exists()  # ... but not committed
    silver_rows = tables.read(spark, "silver_playback").select("kafka_partition", "kafka_offset")
    batch_0 = bronze.where("batch_id = 0").select(
        F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset")
    )
    assert silver_rows.count() > 0 and silver_rows.subtract(batch_0).count() == 0
    after_1 = counts()

    # 2: batch 1 replayed, killed after the quarantine append, before the silver append
    mark = tmp_path / "mark-silver"
    proc = _driver(cfg, topic, tmp_path / "run2.log", "silver:1", mark)
    assert _kill_when_marked(proc, mark, tmp_path / "run2.log") == "silver:1"
    bad_so_far = bronze.where("key = 'bad' AND batch_id <= 1").count()
    assert bad_so_far > 0  # the quarantine append of the replayed batch did happen
    assert counts() == (after_1[0], after_1[1], bad_so_far)  # bronze not repeated, silver waits
    assert bronze.where("batch_id = 1").count() == in_batch_1
    # the replay carried the first attempt's ingestion time: Spark's logged batch timestamp
    offsets = (Path(tables.checkpoint(INGEST_QUERY)) / "offsets" / "1").read_text()
    logged_ms = json.loads(offsets.splitlines()[1])["batchTimestampMs"]
    ingested = bronze.where("batch_id = 1").select(F.unix_millis("ingested_at")).distinct()
    assert [r[0] for r in ingested.collect()] == [logged_ms]

    # 3: a clean restart finishes the job
    log = tmp_path / "run3.log"
    proc = _driver(cfg, topic, log, None, tmp_path / "unused")
    assert proc.wait(timeout=600) == 0, log.read_text()
    assert tables.read(spark, "bronze_playback").count() == total
    assert tables.read(spark, "bronze_playback").select(
        "partition", "offset"
    ).distinct().count() == (total)
    assert sorted(_silver_rows(spark, cfg)) == sorted(_expected_rows(events))
    assert _quarantine(spark, cfg) == {v.decode(): r for v, r in bad}
    assert "silver_playback: " in log.read_text()
