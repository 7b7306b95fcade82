"""Shared plumbing for streaming queries: triggers, Kafka sources, idempotent Delta writes."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from vodlake.config import Config

logger = logging.getLogger(__name__)


def kafka_source(spark: SparkSession, cfg: Config, topic: str) -> DataFrame:
    """A streaming DataFrame over `topic` with Kafka's own columns (key, value, partition, ...)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", cfg.kafka.starting_offsets)
        .option("failOnDataLoss", "true")
        .option("kafka.fetch.max.wait.ms", str(cfg.kafka.fetch_max_wait_ms))
    )
    if cfg.kafka.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.kafka.max_offsets_per_trigger))
    return reader.load()


def with_trigger(
    writer: DataStreamWriter, cfg: Config, once: bool | None = None
) -> DataStreamWriter:
    """`availableNow` when asked (or configured), else a processing-time trigger."""
    if once or (once is None and cfg.streaming.trigger == "availableNow"):
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=cfg.streaming.interval)


def start_foreach_batch(
    source: DataFrame,
    name: str,
    checkpoint: str,
    fn: Callable[[DataFrame, int], None],
    cfg: Config,
    once: bool | None = None,
) -> StreamingQuery:
    """Start query `name`: `fn(batch, batch_id)` on every micro-batch of `source`.

    The checkpoint is what lets a restarted query resume from the offsets it last committed.
    """
    writer = (
        source.writeStream.queryName(name).option("checkpointLocation", checkpoint).foreachBatch(fn)
    )
    return with_trigger(writer, cfg, once).start()


BATCH_TAG = "vodlake.batch"  # key of the commitInfo.userMetadata a ledger write carries


def batch_tag(app_id: str, batch_id: int) -> str:
    """The commit's userMetadata that says which query run wrote it, and which batch."""
    return json.dumps({BATCH_TAG: batch_id, "app": app_id}, separators=(",", ":"))


def tagged_batch(user_metadata: str | None, app_id: str) -> int | None:
    """The batch id in a commit's userMetadata if `app_id` wrote it, else None."""
    if not user_metadata or BATCH_TAG not in user_metadata:
        return None
    try:
        tag = json.loads(user_metadata)
    except ValueError:
        return None
    if not isinstance(tag, dict) or tag.get("app") != app_id:
        return None
    batch = tag.get(BATCH_TAG)
    return batch if isinstance(batch, int) else None


def delta_log(spark: SparkSession, path: str) -> Any:
    """The table's DeltaLog in the JVM (Delta caches one per path)."""
    jvm = spark.sparkContext._jvm
    return jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)


def latest_snapshot(log: Any) -> Any:
    """`log.update()` from Python: the table's newest Snapshot (py4j passes no defaults)."""
    no_ts, no_table = getattr(log, "update$default$2")(), getattr(log, "update$default$3")()
    return log.update(False, no_ts, no_table)


def delta_txn_version(spark: SparkSession, path: str, app_id: str) -> int:
    """The last txnVersion Delta recorded for `app_id` (a SetTransaction), -1 if none.

    Delta 3.3 answers this from the table's computed state: three small Spark jobs per new
    version. A ledger asks once per query run, not per micro-batch.
    """
    found = latest_snapshot(delta_log(spark, path)).transactions().get(app_id)
    return int(found.get()) if found.isDefined() else -1


def last_tagged_batch(spark: SparkSession, path: str, app_id: str) -> int:
    """The batch id of the newest commit `app_id` tagged in the table's history, -1 if none.

    Reads commit infos newest first, in pages that grow tenfold: the query's own last commit
    is usually among the newest few, whatever else writes the table.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return -1  # the first append creates it
    table = DeltaTable.forPath(spark, path)
    limit = 16
    while True:
        rows = table.history(limit).select("version", "userMetadata").collect()
        for row in sorted(rows, key=lambda r: -r["version"]):
            batch = tagged_batch(row["userMetadata"], app_id)
            if batch is not None:
                return batch
        if len(rows) < limit:
            return -1
        limit *= 10


class BatchLedger:
    """Which micro-batches of one streaming query the Delta tables it appends to hold.

    foreachBatch is at-least-once: after a crash Spark replays the last batch, which may
    already be committed. Delta's own guard (txnAppId/txnVersion) asks the table's set
    transactions on every append, and Delta 3.3 rebuilds the whole table state for that at
    every new version: three Spark jobs per table per micro-batch, measured as most of a
    small batch's cost. Yet within one run of a query only its first batch can be a replay:
    the batches after it are new, and the query writes each table alone. So a ledger lives
    for one run: for each table, the first write asks the table once (Delta's set
    transactions, for tables written the old way, and the newest commit this query tagged);
    every later write only compares with what this run committed. Each commit carries its
    tag (`batch_tag`) in commitInfo.userMetadata, so the next run's first batch finds it.

    One ledger per query run (start it with the query); never shared between runs: a batch
    interrupted after its commit would leave an older record here than the table holds.

    Limit: the tags live in the commit files, which Delta keeps for the table's
    delta.logRetentionDuration (30 days by default), while Delta's set transactions are kept
    in checkpoints for good. A query that crashed mid-batch and restarts after its last
    commit's file was cleaned up would append that batch to bronze again (silver's insert by
    event_id still keeps it out of silver).
    """

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._last: dict[str, int] = {}

    def prime(self, spark: SparkSession, *paths: str) -> None:
        """Ask the tables now, before the query starts, so its first batch does not wait on it.

        The tables are asked at once, each in a thread: every question is a few small Spark
        jobs (state and history), mostly waiting on the scheduler, so one after another they
        took 1.6-2.2 s for three tables.
        """
        with ThreadPoolExecutor(max(1, len(paths)), thread_name_prefix="ledger-prime") as pool:
            asked = {path: pool.submit(self._answer, spark, path) for path in paths}
            for path, answer in asked.items():
                self._last[path] = answer.result()

    def holds(self, spark: SparkSession, path: str, batch_id: int) -> bool:
        """True when `path` already has this query's batch `batch_id` (or a later one)."""
        return batch_id <= self._ask(spark, path)

    def _ask(self, spark: SparkSession, path: str) -> int:
        if path not in self._last:
            self._last[path] = self._answer(spark, path)
        return self._last[path]

    def _answer(self, spark: SparkSession, path: str) -> int:
        return max(
            delta_txn_version(spark, path, self.app_id),
            last_tagged_batch(spark, path, self.app_id),
        )

    def record(self, path: str, batch_id: int) -> None:
        self._last[path] = max(batch_id, self._last.get(path, -1))


class DeltaCheckpointer:
    """Delta checkpoints of the tables a streaming query appends to, written in one background
    thread beside the micro-batches rather than inside the commit that reaches the interval.

    Delta checkpoints inside a commit when its version is a multiple of the table's
    `delta.checkpointInterval`, after rebuilding the whole table state: for a table appended
    every second that one batch is seconds late. Tables that use this set Delta's interval out
    of reach (vodlake.lake.tables) and the query calls `committed` after its appends. A
    checkpoint only speeds up reading the log: one that fails is logged and tried again
    after the next commit.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="delta-checkpoint")
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def committed(self, spark: SparkSession, path: str) -> None:
        """After an append to `path`: start a checkpoint when the log is `every` commits past
        the last one (and none is being written for it)."""
        log = delta_log(spark, path)
        snapshot = log.unsafeVolatileSnapshot()  # the one its commit left: no listing
        if snapshot is None or snapshot.version() - snapshot.checkpointProvider().version() < (
            self.every
        ):
            return
        with self._lock:
            if path in self._busy:
                return
            self._busy.add(path)
        self._pool.submit(self._write, log, path)

    def _write(self, log: Any, path: str) -> None:
        try:
            log.checkpoint()
        except Exception as exc:  # a read optimisation: the next commit tries again
            logger.warning("Delta checkpoint of %s failed: %s", path, str(exc).splitlines()[0])
        finally:
            with self._lock:
                self._busy.discard(path)

    def close(self) -> None:
        """Wait for a checkpoint being written, then stop the thread."""
        self._pool.shutdown(wait=True)


def write_delta_idempotent(
    df: DataFrame,
    path: str,
    app_id: str,
    batch_id: int,
    mode: str = "append",
    *,
    ledger: BatchLedger | None = None,
    **options: str,
) -> bool:
    """Append one micro-batch exactly once; False when the ledger finds it already there.

    With a `ledger` (a streaming query's run) the append carries its batch tag and the
    ledger decides. Without one, Delta does: the append carries txnAppId/txnVersion and
    Delta skips a pair it has seen (and the batch tag, so a later ledger sees it too).
    """
    writer = df.write.format("delta").mode(mode).option("userMetadata", batch_tag(app_id, batch_id))
    if ledger is None:
        writer.option("txnAppId", app_id).option("txnVersion", str(batch_id)).options(
            **options
        ).save(path)
        return True
    if ledger.holds(df.sparkSession, path, batch_id):
        logger.info("%s already holds batch %d of %s: not appended again", path, batch_id, app_id)
        return False
    writer.options(**options).save(path)
    ledger.record(path, batch_id)
    return True
