"""Playback telemetry: Kafka `playback` -> bronze_playback + silver_playback + quarantine_playback.

One query (`start_ingest`, readStream -> foreachBatch -> Delta). Each micro-batch of Kafka
records is written three ways:

- bronze_playback, append only: the raw value bytes, key, topic, partition, offset, Kafka
  timestamp, ingestion time and batch id;
- quarantine_playback: every rejected row with its reason and raw value;
- silver_playback (partitioned by event_date): the rows parsed and classified
  (vodlake.transforms.playback), validated by the Great Expectations suite (vodlake.quality)
  and deduplicated by event_id.
Bad data never stops the query: it is data with a reason, not an exception.

How a batch is spent (see write_ingest_batch): Kafka is read once. The parse projection
carries bronze's columns beside the parsed ones into one cached frame, and also evaluates the
quality suite (compiled from GX, see vodlake.quality); the job that fills the cache computes
the batch's counts, its time window and the GX witness rows. Then three things run at once
from the cache: the bronze append (second thread), GX judging the witnesses (third thread) and
the dedupe looking for copies (main thread). Once bronze is committed, quarantine (only when
there are bad rows) and silver are appended. So a batch costs one Kafka read, one parse, and
two Delta commits when it is clean (three with bad rows); bronze is committed before
quarantine and silver.

What a small batch (a 1 s trigger) no longer pays, each measured: the parse's and the
statistics' columns are built once per query, not per batch (over a thousand JVM calls);
the Delta state an idempotent append checks (its set-transaction ids, rebuilt by Delta 3.3 for
every new version, three Spark jobs per table) is asked once per run, not per batch
(`BatchLedger`); the dedupe finds its candidates in a driver-side index of recent silver ids
(`RecentIds`) instead of reading silver back; and the Kafka source's fetch wait is 10 ms, not
500 ms (`kafka.fetch_max_wait_ms`).

Why one query and not bronze -> silver as two: the second query would read back from disk
every payload the first one just wrote, and pay its own Delta log and trigger overheads; in
one batch the records are in memory already. Bronze is still the full raw record of what
arrived, written first in every batch, so silver can always be re-derived from it.

`vodlake stream playback [--once]` and `spark-submit streaming/playback.py [--once]` run it
(`main`); --once is availableNow: drain Kafka in micro-batches of at most
`kafka.max_offsets_per_trigger` records, then stop.

Ordering guarantee
------------------
Kafka keeps order only within a partition. The producer (`vodlake simulate-playback`, via
kafka_io.produce with one in-flight request per connection, so retries do not reorder) keys
every event by session_id, so all events of one session go to one partition in the order they
were produced. That is the only order Kafka gives: there is no order across partitions, and a
micro-batch interleaves partitions arbitrarily (the bronze rows keep partition and offset, so
per-partition order stays visible there).

Silver does not rely on arrival order at all, so even a session whose events arrive across
partitions and shuffled (a re-keyed producer, a replay, a client that buffers) ends up right:
- each row's time is its `event_time`, and `event_date` (the partition) comes from it, not from
  when it arrived; a session's order is rebuilt by sorting on (session_id, event_time);
- duplicates are matched by event_id whichever copy comes first, and the kept copy is chosen by
  (event_time, partition, offset), never by arrival;
- nothing is dropped for being late: no watermark-based state eviction discards rows.

Exactly once
------------
foreachBatch is at-least-once: after a crash Spark replays the last micro-batch (the same rows:
offsets are logged before a batch runs). Every write is therefore idempotent:
- the bronze, quarantine and silver appends are tagged with the query (+ checkpoint) and the
  batch id in their commit's userMetadata, and a run's first batch asks each table for the
  newest batch it holds (the tags, and Delta's txnAppId/txnVersion of earlier releases), so a
  replayed append that was committed is skipped (`vodlake.lake.streams.BatchLedger`); the
  batches after it in the same run are new by construction;
- silver is insert-only by event_id (see insert_new_events): rows already in silver are never
  inserted again, which also removes copies that arrive in later batches or after a restart;
- every verdict is deterministic on replay. "Now" for the future-timestamp rules is the row's
  `ingested_at`, and that is `current_timestamp()` in the streaming plan, which Spark replaces
  by the micro-batch's timestamp and logs with its offsets: a replayed batch carries the same
  value, so each row lands where it landed before.

Why an insert-only write against silver (a MERGE on event_id, in effect) and not
dropDuplicatesWithinWatermark: the streaming dedupe operator silently drops rows older than
the watermark (they would vanish from bronze = silver + quarantine + duplicates), keeps its keys
in the checkpoint's state store, and measures lateness by *processing* progress, so a simulated
history days old, or one partition lagging another, would be "late" wholesale. Checking silver
itself, a copy is removed when silver already holds the same event_id with an event_time
within `playback.dedupe_window` of it (the window bounds the match; literal event_date and
event_time ranges let Delta prune partitions and skip files); late rows are kept; there is no
state to lose, so the guarantee survives restarts, a new checkpoint, or a crash between two
writes. The cost would be reading the ids of the part of silver in the batch's time window
every batch; the index (`RecentIds`, `playback.dedupe_index_rows`) avoids that read unless a
batch holds a candidate or reaches back before the index's floor, and rebuilds itself from
silver when the query starts.

Test hook (crash recovery tests only): with VODLAKE_PLAYBACK_CRASH_AT=bronze:N the query
sleeps after writing batch N (>= N) to bronze and before any other write; with silver:N it
sleeps after the quarantine append and before the silver append. If
VODLAKE_PLAYBACK_CRASH_MARK names a file, it is written when the hook is reached, so a test
knows when to SIGKILL the driver.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake.streams import (
    BatchLedger,
    DeltaCheckpointer,
    kafka_source,
    start_foreach_batch,
    write_delta_idempotent,
)
from vodlake.lake.tables import STREAMED_CHECKPOINT_EVERY, Tables
from vodlake.schemas import BRONZE_PLAYBACK
from vodlake.telemetry.quality import PlaybackQuality, with_lead, witness_key
from vodlake.transforms.playback import (
    bronze_from_kafka,
    dedupe_events,
    duplicate_candidates,
    parse_playback,
    rejected_events,
    to_quarantine,
    to_silver,
    utc_date,
    valid_events,
    with_raw_value,
)

INGEST_QUERY = "playback_ingest"
INGEST_TABLES = ("bronze_playback", "silver_playback", "quarantine_playback")
# Payloads are unique per row: a Parquet dictionary for them is built and then thrown away.
BRONZE_WRITE_OPTIONS = {"parquet.enable.dictionary": "false"}
# Whether Spark compresses a cache's columns; the batch cache is built without (see
# write_ingest_batch), and the bench's bounds build theirs the same way.
CACHE_COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"
# Up to this many possible copies in one batch are listed on the driver and checked exactly;
# more (a whole day replayed) and every row of the batch goes through the exact rules.
CANDIDATE_LIMIT = 50_000
_INGESTED = "_ingested_at"
ROWS_PER_SHUFFLE_PARTITION = 100_000
BRONZE_COLUMNS: tuple[str, ...] = tuple(f.name for f in BRONZE_PLAYBACK.fields)
log = logging.getLogger(__name__)
CRASH_ENV = "VODLAKE_PLAYBACK_CRASH_AT"
CRASH_MARK_ENV = "VODLAKE_PLAYBACK_CRASH_MARK"
_DURATION = re.compile(r"^\s*(\d+)\s+(second|minute|hour|day)s?\s*$", re.IGNORECASE)


def _crash_hook(stage: str, batch_id: int) -> None:
    """Sleep inside the batch when a test asked for it (see the module docstring)."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    want, _, at = spec.partition(":")
    if want == stage and batch_id >= int(at or 0):
        mark = os.environ.get(CRASH_MARK_ENV)
        if mark:
            Path(mark).write_text(f"{stage}:{batch_id}\n")
        time.sleep(3600)


def _dedupe_window(text: str) -> tuple[int, str]:
    """'1 hour' -> (1, 'HOUR'), or a VodlakeError for anything else."""
    match = _DURATION.match(text)
    if not match:
        raise VodlakeError(
            f"playback.dedupe_window {text!r} is not '<n> seconds|minutes|hours|days'",
            hint="e.g. --set playback.dedupe_window='1 hour'",
        )
    return int(match.group(1)), match.group(2).upper()


def dedupe_seconds(text: str) -> int:
    """'1 hour' -> 3600."""
    n, unit = _dedupe_window(text)
    return n * {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}[unit]


def dedupe_interval(text: str) -> str:
    """'1 hour' -> 'INTERVAL 1 HOUR' (checked, since it goes into a SQL condition)."""
    n, unit = _dedupe_window(text)
    return f"INTERVAL {n} {unit}"


class StepTimes:
    """Seconds spent in each step of the micro-batches so far: where ingest time goes.

    Logged per batch at DEBUG on this module's logger (`vodlake stream playback --timings`
    shows them); bench/ingest.py prints the totals.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.batches = 0
        self._lock = threading.Lock()  # steps of one batch run in two threads

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def timed(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) as step `name` (for work handed to another thread)."""
        with self.step(name):
            return fn(*args, **kwargs)


@dataclass(frozen=True)
class SearchWindow:
    """Where in silver a copy of a batch's events can be: event_date and event_time bounds."""

    first_date: object
    last_date: object
    first_us: int  # epoch microseconds
    last_us: int

    def condition(self) -> str:
        """A literal predicate: partition pruning on event_date, file skipping on event_time
        (each silver file covers the events of one batch, so its event_time range is narrow)."""
        return (
            f"event_date BETWEEN DATE'{self.first_date}' AND DATE'{self.last_date}'"
            f" AND event_time BETWEEN timestamp_micros({self.first_us})"
            f" AND timestamp_micros({self.last_us})"
        )


def window_columns(rows: Column, interval: str) -> list[Column]:
    """Aggregates giving a SearchWindow for the `rows` of a batch (see window_of)."""
    early = F.when(rows, F.col("event_time") - F.expr(interval))
    late = F.when(rows, F.col("event_time") + F.expr(interval))
    return [
        F.min(utc_date(early)).alias("_first_date"),
        F.max(utc_date(late)).alias("_last_date"),
        F.min(F.unix_micros(early)).alias("_first_us"),
        F.max(F.unix_micros(late)).alias("_last_us"),
    ]


def window_of(row: Row) -> SearchWindow | None:
    if row["_first_date"] is None:
        return None  # no rows
    return SearchWindow(row["_first_date"], row["_last_date"], row["_first_us"], row["_last_us"])


def insert_new_events(
    spark: SparkSession,
    path: str,
    events: DataFrame,
    dedupe_window: str,
    *,
    app_id: str,
    batch_id: int,
    window: SearchWindow | None = None,
    times: StepTimes | None = None,
) -> None:
    """Append one copy of each event that silver does not hold within `dedupe_window` of its
    time.

    An insert-only MERGE on event_id, written as what it is: one copy per event_id in the
    batch (dedupe_events), a left anti join against the part of silver a match can live in,
    then an idempotent append (write_delta_idempotent). Run twice with the same rows it adds
    nothing.
    Silver has one writer, this query, so the read and the append need no conflict detection.

    The exact rules sort whole rows; copies are rare. So the ids seen twice among the batch and
    silver's window are found first by one hash aggregation of ids (duplicate_candidates), the
    rest of the batch is appended as it is, and only the candidates' rows go through the exact
    rules. `window` bounds the search (computed from `events` when not given).
    """
    interval = dedupe_interval(dedupe_window)
    if window is None:
        window = window_of(events.agg(*window_columns(F.lit(True), interval)).first())
    if window is None:
        return  # an empty batch
    times = times or StepTimes()
    with times.step("dedupe"):
        found = find_copies(spark, path, events, window)
    new = without_copies(events, found, interval)
    with times.step("silver"):
        write_delta_idempotent(new, path, app_id, batch_id)


def id_hash() -> Column:
    """A row's event_id as a 64-bit hash: what the search for copies aggregates."""
    return F.xxhash64("event_id")


@dataclass(frozen=True)
class Copies:
    """What the dedupe must decide on: silver's ids in the window, and the candidates (hashes
    of ids seen more than once, see duplicate_candidates)."""

    stored: DataFrame | None  # None when there is nothing to decide (no candidates)
    ids: tuple[int, ...]
    every_row: bool  # more than CANDIDATE_LIMIT candidates: every row goes through the rules


def silver_window(spark: SparkSession, path: str, window: SearchWindow) -> DataFrame:
    """The ids and times of the silver rows a copy of the batch's events can be among (lazy)."""
    return (
        spark.read.format("delta")
        .load(path)
        .where(window.condition())
        .select("event_id", "event_time")
    )


def find_copies(spark: SparkSession, path: str, events: DataFrame, window: SearchWindow) -> Copies:
    """The id hashes seen twice among `events` and silver's `window` (one hash aggregation)."""
    stored = silver_window(spark, path, window)
    found = duplicate_candidates(events, stored, id_hash()).limit(CANDIDATE_LIMIT + 1).collect()
    if len(found) > CANDIDATE_LIMIT:
        return Copies(stored, (), every_row=True)
    return Copies(stored, tuple(r.key for r in found), every_row=False)


def without_copies(events: DataFrame, found: Copies, interval: str) -> DataFrame:
    """`events` less the copies `found` says to drop: the rows silver should get."""
    if not found.ids and not found.every_row:
        return events
    assert found.stored is not None  # candidates come with silver's window
    if found.every_row:
        return _not_stored(dedupe_events(events), found.stored, interval)
    spark = events.sparkSession
    ids = F.broadcast(spark.createDataFrame([(i,) for i in found.ids], "_id_hash long"))

    def among(df: DataFrame, how: str) -> DataFrame:
        return df.withColumn("_id_hash", id_hash()).join(ids, "_id_hash", how).drop("_id_hash")

    doubtful = among(events, "left_semi")
    near = among(found.stored, "left_semi")
    return among(events, "left_anti").unionByName(
        _not_stored(dedupe_events(doubtful), near, interval)
    )


def _not_stored(events: DataFrame, stored: DataFrame, interval: str) -> DataFrame:
    """`events` without those whose id is `stored` with an event_time within `interval`."""
    match = F.expr(
        "s.event_id = t.event_id"
        f" AND t.event_time BETWEEN s.event_time - {interval} AND s.event_time + {interval}"
    )
    return events.alias("s").join(stored.alias("t"), match, "left_anti")


class RecentIds:
    """Id hashes and event times of the silver rows from `floor_us` on, kept on the driver.

    Why: reading silver back is most of a small batch's dedupe (a Delta snapshot, then every
    small file of the last `dedupe_window`), and almost every batch holds only new ids. With
    this index a batch's candidates (hashes seen twice in the batch, or already here) come from
    its own hashes; silver is read only when there are candidates, and then only for them.

    Sound because the index is a superset of silver from `floor_us` on: silver has one writer,
    this query; the index starts by reading silver, and every batch's hashes are added once its
    silver append is committed. An extra entry (a row GX then rejected) only makes a candidate
    that the exact rules clear. A batch reaching back before `floor_us` (late or out-of-order
    events) first extends the index down to its window with one read of that stretch of
    silver. Past `max_rows` the older half by event time is dropped and the floor moves up; a
    stretch that would not fit leaves that batch to read silver's window as before, and a silver
    too big to load leaves the index off for the life of the query.
    """

    MERGE_AFTER = 32  # sorted chunks kept before they are merged into one

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.floor_us: int | None = None  # None: not loaded yet
        self.disabled = max_rows <= 0
        self.rows = 0
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their times)

    def covers(self, window: SearchWindow) -> bool:
        return not self.disabled and self.floor_us is not None and window.first_us >= self.floor_us

    def load(self, spark: SparkSession, path: str, floor_us: int) -> None:
        """Start from silver's rows with event_time >= floor_us (one read of silver)."""
        self._chunks, self.rows, self.floor_us = [], 0, None
        self._take(spark, path, floor_us, None)

    def extend(self, spark: SparkSession, path: str, floor_us: int) -> None:
        """Reach back to floor_us (a batch with earlier events): read silver's rows between it
        and the current floor, once, rather than silver's window for every such batch."""
        if self.floor_us is not None and floor_us < self.floor_us:
            self._take(spark, path, floor_us, self.floor_us)

    def _take(self, spark: SparkSession, path: str, low_us: int, high_us: int | None) -> None:
        day = dt.datetime.fromtimestamp(low_us / 1e6, dt.timezone.utc).date()
        stored = (
            spark.read.format("delta")
            .load(path)
            .where(f"event_date >= DATE'{day}'")
            .where(F.col("event_time") >= F.timestamp_micros(F.lit(low_us)))
        )
        if high_us is not None:
            stored = stored.where(F.col("event_time") < F.timestamp_micros(F.lit(high_us)))
        room = self.max_rows - self.rows
        hashes, times = hashes_and_times(stored, limit=room + 1)
        if len(hashes) > room:
            if self.floor_us is None:  # cannot even start: off for the life of the query
                self.disabled = True
                log.warning(
                    "silver holds over %d rows past the dedupe floor: dedupe index off, "
                    "every batch reads silver (raise playback.dedupe_index_rows)",
                    self.max_rows,
                )
            return  # too far back to hold: this batch reads silver's window instead
        self.floor_us = low_us
        self.add(hashes, times)

    def add(self, hashes: np.ndarray, times: np.ndarray) -> None:
        if self.disabled or not len(hashes):
            return
        order = np.argsort(hashes, kind="stable")
        self._chunks.append((hashes[order], times[order]))
        self.rows += len(hashes)
        if len(self._chunks) > self.MERGE_AFTER:
            self._merge()
        if self.rows > self.max_rows:
            self._trim()

    def candidates(self, hashes: np.ndarray) -> np.ndarray:
        """The distinct hashes among `hashes` seen more than once there or held here."""
        distinct, counts = np.unique(hashes, return_counts=True)
        seen = counts > 1
        for chunk, _ in self._chunks:
            at = np.minimum(np.searchsorted(chunk, distinct), len(chunk) - 1)
            seen |= chunk[at] == distinct
        return distinct[seen]

    def _merge(self) -> None:
        hashes = np.concatenate([c[0] for c in self._chunks])
        times = np.concatenate([c[1] for c in self._chunks])
        order = np.argsort(hashes, kind="stable")
        self._chunks = [(hashes[order], times[order])]

    def _trim(self) -> None:
        self._merge()
        hashes, times = self._chunks[0]
        cut = int(np.partition(times, len(times) // 2)[len(times) // 2])
        keep = times >= cut  # every row from the cut on stays, so the floor holds
        self._chunks = [(hashes[keep], times[keep])]
        self.rows = int(keep.sum())
        self.floor_us = cut if self.floor_us is None else max(self.floor_us, cut)


def hashes_and_times(rows: DataFrame, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(id_hash, event_time in epoch microseconds) of `rows`, as two int64 arrays.

    Collected as Arrow (a 500k-row batch in a fraction of a second, where Row objects would
    take seconds); `_collect_as_arrow` is what DataFrame.toPandas uses.
    """
    picked = rows.select(id_hash().alias("h"), F.unix_micros("event_time").alias("t"))
    if limit is not None:
        picked = picked.limit(limit)
    batches = picked._collect_as_arrow()
    if not batches:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    hashes = np.concatenate([b.column(0).to_numpy(zero_copy_only=False) for b in batches])
    times = np.concatenate([b.column(1).to_numpy(zero_copy_only=False) for b in batches])
    return hashes.astype(np.int64, copy=False), times.astype(np.int64, copy=False)


def _copies(
    spark: SparkSession,
    path: str,
    events: DataFrame,
    window: SearchWindow,
    index: RecentIds | None,
) -> tuple[Copies, tuple[np.ndarray, np.ndarray] | None]:
    """What the dedupe decides on, and the batch's (hashes, times) for the index once silver
    has them. With the index covering the window, no silver read is needed to find candidates;
    without it (off, or late events), one hash aggregation over silver's window finds them."""
    if index is None or index.disabled:
        return find_copies(spark, path, to_silver(events), window), None
    if index.floor_us is None:
        index.load(spark, path, window.first_us)
    elif window.first_us < index.floor_us:
        index.extend(spark, path, window.first_us)
    fresh = hashes_and_times(events)
    if not index.covers(window):
        return find_copies(spark, path, to_silver(events), window), fresh
    ids = index.candidates(fresh[0])
    if not len(ids):
        return Copies(None, (), every_row=False), fresh  # all new: silver is not read
    stored = silver_window(spark, path, window)
    if len(ids) > CANDIDATE_LIMIT:
        return Copies(stored, (), every_row=True), fresh
    return Copies(stored, tuple(int(i) for i in ids), every_row=False), fresh


# Per quality suite, what every batch of a query reuses (see stats_columns, row_reason).
_PER_SUITE: weakref.WeakKeyDictionary[PlaybackQuality, dict[str, Any]] = weakref.WeakKeyDictionary()


def row_reason(quality: PlaybackQuality) -> Callable[[Callable[[str], Column]], Column] | None:
    """The suite's compiled row rules as parse_playback's `rules`: one object per suite, so
    parse_playback's projections are built once per query, not per batch."""
    rules = quality.row_rules
    if rules is None:
        return None
    kept = _PER_SUITE.setdefault(quality, {})
    if "reason" not in kept:

        def reason(resolve: Callable[[str], Column]) -> Column:
            return rules.reason(with_lead(resolve))

        kept["reason"] = reason
    return kept["reason"]


def stats_columns(quality: PlaybackQuality, interval: str) -> list[Column]:
    """The aggregates of a batch's one statistics pass: counts, search window, GX witnesses.

    Built once per quality suite and reused by every batch (unresolved columns carry no
    data): building the witness aggregates is hundreds of calls into the JVM, about half a
    second per micro-batch when it was done each time.
    """
    built = _PER_SUITE.setdefault(quality, {}).setdefault("stats", {})
    if interval not in built:
        valid = F.col("reason").isNull()
        rules = quality.row_rules
        witnesses = []
        if rules is not None:
            witnesses = rules.witness_aggregates(with_lead(F.col), valid, witness_key())
        built[interval] = [
            F.count(F.when(valid, 1)).alias("valid"),
            F.count(F.when(~valid, 1)).alias("rejected"),
            *window_columns(valid, interval),
            *witnesses,
        ]
    return built[interval]


def _size_shuffles(spark: SparkSession, rows: int, configured: int) -> None:
    """Shuffle partitions for this batch's dedupe: one per ROWS_PER_SHUFFLE_PARTITION rows, at
    most the configured number. Adaptive execution, which would coalesce them, is off inside a
    streaming query; a batch of a second's events then pays for 1 shuffle task, not 4."""
    wanted = max(1, min(configured, -(-rows // ROWS_PER_SHUFFLE_PARTITION)))
    spark.conf.set("spark.sql.shuffle.partitions", str(wanted))


def write_ingest_batch(
    batch: DataFrame,
    batch_id: int,
    *,
    cfg: Config,
    quality: PlaybackQuality,
    tables: Tables,
    app_id: str,
    times: StepTimes | None = None,
    index: RecentIds | None = None,
    ledger: BatchLedger | None = None,
    checkpointer: DeltaCheckpointer | None = None,
) -> None:
    """One micro-batch of Kafka records -> bronze, then quarantine and silver, each exactly once.

    The records are read from Kafka once, parsed once (with the quality suite's row verdicts)
    and cached together with bronze's columns; one aggregate over the cache says what work
    there is (a clean batch skips the quarantine commit, a batch of only bad rows skips GX and
    silver) and picks GX's witness rows. Then bronze is appended from the cache in a second
    thread while GX judges the witnesses in a third and the dedupe looks for copies. Quarantine
    and silver are appended after bronze's commit, so bronze always holds what silver was
    derived from.
    """
    times = times or StepTimes()
    before = dict(times.seconds)
    interval = dedupe_interval(cfg.playback.dedupe_window)
    silver_path = tables.path("silver_playback")
    bronze_path = tables.path("bronze_playback")
    spark = batch.sparkSession  # the query's own session (a clone): settings stay in it
    # the cache lives for one micro-batch, and compressing its columns cost more than it saved
    # (parse + cache of 500k rows: 10.9 s compressed, 8.4 s not, 6.7 s for the parse alone)
    spark.conf.set(CACHE_COMPRESSED, "false")
    with times.step("plan"):  # the parse's plan: its columns are built once per query
        rows = bronze_from_kafka(batch, batch_id, F.col(_INGESTED))
        # the one read of Kafka: bronze's columns ride along with the parse in one cached frame
        cached = parse_playback(
            rows,
            cfg.playback.max_payload_bytes,
            cfg.playback.future_skew_s,
            rules=row_reason(quality),
            carry=BRONZE_COLUMNS,
        ).persist()
    bronze_rows = cached.select(*BRONZE_COLUMNS)
    parsed = cached.drop(*BRONZE_COLUMNS)
    try:
        with times.step("parse"):  # reads Kafka, parses, fills the cache
            stats = parsed.agg(*stats_columns(quality, interval)).first()
        _size_shuffles(spark, stats["valid"], cfg.spark.shuffle_partitions)
        with ThreadPoolExecutor(2, thread_name_prefix=f"playback-batch-{batch_id}") as pool:
            bronze = pool.submit(
                times.timed,
                "bronze",
                write_delta_idempotent,
                bronze_rows,
                bronze_path,
                app_id,
                batch_id,
                ledger=ledger,
                **BRONZE_WRITE_OPTIONS,
            )
            rejected = rejected_events(parsed)
            events = valid_events(parsed).drop("reason")
            passed: DataFrame | None = None
            fresh: tuple[np.ndarray, np.ndarray] | None = None
            gx_failed = False
            window = window_of(stats)
            if stats["valid"] and window is not None:
                verdict = pool.submit(times.timed, "quality", quality.confirm, events, stats)
                with times.step("dedupe"):
                    found, fresh = _copies(spark, silver_path, events, window, index)
                outcome = verdict.result()
                passed = outcome.passed
                gx_failed = not outcome.success
                if gx_failed:
                    rejected = rejected.unionByName(with_raw_value(outcome.failed, bronze_rows))
            with times.step("wait for bronze"):
                bronze.result()
        _crash_hook("bronze", batch_id)
        if stats["rejected"] or gx_failed:
            with times.step("quarantine"):
                quarantine = to_quarantine(rejected)
                path = tables.path("quarantine_playback")
                write_delta_idempotent(quarantine, path, app_id, batch_id, ledger=ledger)
        _crash_hook("silver", batch_id)
        if passed is not None:
            # the copies found among the rule-passing rows are a superset of those among
            # the rows GX passed, so they serve for both
            new = without_copies(to_silver(passed), found, interval)
            with times.step("silver"):
                write_delta_idempotent(new, silver_path, app_id, batch_id, ledger=ledger)
            if index is not None and fresh is not None:
                index.add(*fresh)  # committed: from now on silver holds them
        if checkpointer is not None:  # beside the next batches, not inside this one's commits
            for name in INGEST_TABLES:
                checkpointer.committed(spark, tables.path(name))
    finally:
        with times.step("release"):
            cached.unpersist()
    times.batches += 1
    spent = {k: v - before.get(k, 0.0) for k, v in times.seconds.items()}
    log.debug("batch %d: %s", batch_id, ", ".join(f"{k} {v:.2f}s" for k, v in spent.items() if v))


def start_ingest(
    spark: SparkSession,
    cfg: Config,
    *,
    topic: str | None = None,
    once: bool | None = None,
    quality: PlaybackQuality | None = None,
    times: StepTimes | None = None,
) -> StreamingQuery:
    """Kafka `playback` -> bronze_playback, quarantine_playback and silver_playback.

    `times`, if given, collects the seconds spent per step over all batches.
    """
    dedupe_interval(cfg.playback.dedupe_window)  # a bad setting fails before the query starts
    tables = Tables(cfg)
    paths = [tables.ensure(spark, name) for name in INGEST_TABLES]
    checkpoint = tables.checkpoint(INGEST_QUERY)
    app_id = f"{INGEST_QUERY}:{checkpoint}"  # a new checkpoint restarts batch ids at 0
    suite = quality or PlaybackQuality(cfg)
    index = RecentIds(cfg.playback.dedupe_index_rows)
    ledger = BatchLedger(app_id)  # this run's
    checkpointer = DeltaCheckpointer(STREAMED_CHECKPOINT_EVERY)
    # Before the query starts, so that its first batch does not wait on them, and side by side
    # (small Spark jobs that mostly wait): what the tables hold of this query, and silver's
    # ids of the last dedupe window.
    with ThreadPoolExecutor(1, thread_name_prefix="ingest-start") as pool:
        loading = None
        if not index.disabled:
            window_us = dedupe_seconds(cfg.playback.dedupe_window) * 1_000_000
            since = time.time_ns() // 1000 - window_us
            loading = pool.submit(index.load, spark, tables.path("silver_playback"), since)
        ledger.prime(spark, *paths)
        if loading is not None:
            loading.result()

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        write_ingest_batch(
            batch,
            batch_id,
            cfg=cfg,
            quality=suite,
            tables=tables,
            app_id=app_id,
            times=times,
            index=index,
            ledger=ledger,
            checkpointer=checkpointer,
        )

    # current_timestamp() in the streaming plan is the batch timestamp, logged with the
    # offsets: a replayed batch gets the same ingested_at (see the module docstring)
    source = kafka_source(spark, cfg, topic or cfg.kafka.topics.playback).withColumn(
        _INGESTED, F.current_timestamp()
    )
    return start_foreach_batch(source, INGEST_QUERY, checkpoint, write_batch, cfg, once)


def await_query(query: StreamingQuery) -> None:
    """Wait until the query ends (availableNow: drained); raise if it failed."""
    try:
        query.awaitTermination()
    finally:
        if query.isActive:  # interrupted (Ctrl-C): stop cleanly, the checkpoint stays valid
            query.stop()
    error = query.exception()
    if error is not None:
        raise RuntimeError(f"streaming query {query.name} failed: {error}")


def run(
    spark: SparkSession, cfg: Config, *, once: bool | None = None, topic: str | None = None
) -> None:
    """The ingest query until it ends: availableNow drains Kafka, processingTime runs on."""
    await_query(start_ingest(spark, cfg, topic=topic, once=once))


def table_counts(spark: SparkSession, cfg: Config) -> dict[str, int]:
    """Rows in bronze_playback, silver_playback and quarantine_playback (0 if absent)."""
    tables = Tables(cfg)
    names = ("bronze_playback", "silver_playback", "quarantine_playback")
    return {
        name: tables.read(spark, name).count() if tables.exists(spark, name) else 0
        for name in names
    }
