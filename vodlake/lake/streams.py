"""Shared plumbing for streaming queries: triggers, Kafka sources, idempotent Delta writes."""

from __future__ import annotations

import logging
from collections.abc import Callable

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


def warm_delta_state(spark: SparkSession, path: str) -> None:
    """Build the Delta table's state for its current version now, so the writes and reads
    that follow find it cached.

    Why: an idempotent append checks the table's set-transaction ids, and Delta 3.3 rebuilds
    the whole state (three small Spark jobs, about half a second here) for every new version
    to answer that. A micro-batch adds a version to each table it writes, so the next batch
    pays it again; started in a thread at the top of the batch, it runs beside the parse
    instead of in front of the append. Only a speed-up: a failure here is left to the write.
    """
    jvm = spark.sparkContext._jvm
    try:
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
        no_ts, no_table = getattr(log, "update$default$2")(), getattr(log, "update$default$3")()
        snapshot = log.update(False, no_ts, no_table)
        snapshot.transactions()
    except Exception as exc:  # the write that follows reports real problems
        logger.debug("warming %s: %s", path, exc)


def write_delta_idempotent(
    df: DataFrame, path: str, app_id: str, batch_id: int, mode: str = "append", **options: str
) -> None:
    """Append one micro-batch exactly once: Delta skips a (txnAppId, txnVersion) it has seen.

    foreachBatch is at-least-once (a batch is replayed after a crash), so every Delta write in
    it carries the query's id and the batch id.
    """
    (
        df.write.format("delta")
        .mode(mode)
        .option("txnAppId", app_id)
        .option("txnVersion", str(batch_id))
        .options(**options)
        .save(path)
    )
