"""Shared plumbing for streaming queries: triggers, Kafka sources, idempotent Delta writes."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from vodlake.config import Config


def kafka_source(spark: SparkSession, cfg: Config, topic: str) -> DataFrame:
    """A streaming DataFrame over `topic` with Kafka's own columns (key, value, partition, ...)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", cfg.kafka.starting_offsets)
        .option("failOnDataLoss", "true")
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
