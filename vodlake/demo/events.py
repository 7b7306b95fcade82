"""The demo query: Kafka topic -> Delta `demo_events` -> Elasticsearch, per micro-batch."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from vodlake.config import Config
from vodlake.lake.streams import (
    BatchLedger,
    kafka_source,
    start_foreach_batch,
    write_delta_idempotent,
)
from vodlake.lake.tables import Tables
from vodlake.search.index import es_options, index_name
from vodlake.transforms.demo import demo_events

QUERY = "demo_events"


def start(
    spark: SparkSession,
    cfg: Config,
    *,
    topic: str | None = None,
    table_path: str | None = None,
    checkpoint: str | None = None,
    es_index: str | None = None,
    once: bool | None = None,
) -> StreamingQuery:
    """Start the query; every micro-batch is appended to Delta (exactly once) and indexed in ES."""
    tables = Tables(cfg)
    topic = topic or cfg.kafka.topics.demo
    table_path = table_path or tables.path("demo_events")
    checkpoint = checkpoint or tables.checkpoint(QUERY)
    es_index = es_index or index_name(cfg, "demo-events")
    opts = es_options(cfg, id_field="event_id")
    # a new checkpoint restarts batch ids at 0, so the Delta app id follows the checkpoint
    app_id = f"{QUERY}:{checkpoint}"
    ledger = BatchLedger(app_id)  # this run's

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        events = demo_events(batch).persist()
        try:
            write_delta_idempotent(events, table_path, app_id, batch_id, ledger=ledger)
            # upserts by event_id, so replaying a batch leaves the index unchanged
            events.drop("ingested_at").write.format("es").options(**opts).mode("append").save(
                es_index
            )
        finally:
            events.unpersist()

    source = kafka_source(spark, cfg, topic)
    return start_foreach_batch(source, QUERY, checkpoint, write_batch, cfg, once)
