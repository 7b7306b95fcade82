"""Pure transforms for the foundation demo: Kafka records -> typed demo events."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from vodlake.schemas import DEMO_EVENT


def parse_json_value(kafka_df: DataFrame, schema=DEMO_EVENT) -> DataFrame:
    """Kafka rows (key, value, partition, offset, ...) -> the event fields plus Kafka position.

    Rows whose value is not valid JSON for `schema` come back with `event` null, so the caller
    decides where they go (quarantine), never silently dropped here.
    """
    return kafka_df.select(
        F.from_json(F.col("value").cast("string"), schema).alias("event"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
    )


def demo_events(kafka_df: DataFrame, ingested_at: Column | None = None) -> DataFrame:
    """Typed demo events with their Kafka partition and offset, in the demo table's columns."""
    parsed = parse_json_value(kafka_df).where(F.col("event.event_id").isNotNull())
    return parsed.select(
        "event.*",
        "kafka_partition",
        "kafka_offset",
        (ingested_at if ingested_at is not None else F.current_timestamp()).alias("ingested_at"),
    )


def events_per_video(events: DataFrame) -> DataFrame:
    """Events, Kafka partitions and the seq range per video (a video sticks to one partition)."""
    return (
        events.groupBy("video_id")
        .agg(
            F.count("*").alias("events"),
            F.countDistinct("kafka_partition").alias("partitions"),
            F.min("seq").alias("first_seq"),
            F.max("seq").alias("last_seq"),
        )
        .orderBy("video_id")
    )
