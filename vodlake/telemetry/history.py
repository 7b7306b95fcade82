"""Synthetic playback history written straight into silver, for the analytics tests and demo.

Why: popularity, placement and their evaluation read the Delta table `silver_playback`, which
the Kafka -> bronze + silver ingest normally writes. Tests, the demo stage and the evaluation
must not wait for that ingest (nor push millions of events through Kafka) to get days of
history, so this module turns `vodlake.playback_sim` events into silver-shaped rows (schema
SILVER_PLAYBACK, kafka_partition/kafka_offset null because they never crossed Kafka) and
replaces those dates in the table. Point it at a lake of its own: in a real lake the ingest
is the one writer of silver.

Events go to a local temporary folder as Parquet (streamed in batches, so memory stays flat) and
Spark reads them from there: this is for local mode and single-machine clusters.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake.fs import last_write_rows
from vodlake.lake.tables import Tables
from vodlake.schemas import PLAYBACK_EVENT, SILVER_PLAYBACK
from vodlake.telemetry.generator import (
    EVAL_TITLES,
    CatalogVideo,
    SimParams,
    catalog_bytes,
    catalog_files,
    generate,
    short_catalog,
)

_ARROW_TYPES = {
    "chunk_idx": pa.int32(),
    "bytes": pa.int64(),
    "startup_ms": pa.int32(),
    "rebuffer_ms": pa.int32(),
}


# playback_sim events as Arrow columns; event_time stays text until Spark parses it.
_ARROW_EVENT = pa.schema(
    [
        pa.field(f.name, _ARROW_TYPES.get(f.name, pa.string()), nullable=f.nullable)
        for f in PLAYBACK_EVENT.fields
    ]
)


def _write_parquet(events: Iterable[Mapping[str, Any]], folder: str, batch: int) -> int:
    """Stream events into Parquet files of ``batch`` rows (memory stays flat); returns the rows."""
    rows = part = 0
    iterator = iter(events)
    while True:
        chunk = list(itertools.islice(iterator, batch))
        if not chunk and part:
            return rows
        table = pa.Table.from_pylist(chunk, schema=_ARROW_EVENT)
        pq.write_table(table, f"{folder}/part-{part:05d}.parquet")
        rows += len(chunk)
        part += 1
        if len(chunk) < batch:
            return rows


def silver_frame(spark: SparkSession, folder: str) -> DataFrame:
    """Parquet files of playback events -> DataFrame with the SILVER_PLAYBACK columns."""
    events = spark.read.parquet(folder)
    return events.select(
        *[F.col(f.name).cast(f.dataType) for f in PLAYBACK_EVENT.fields],
        F.to_date(F.col("event_time").cast("timestamp")).alias("event_date"),
        F.lit(None).cast("int").alias("kafka_partition"),
        F.lit(None).cast("long").alias("kafka_offset"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in SILVER_PLAYBACK.fields])


def write_silver(
    spark: SparkSession,
    cfg: Config,
    events: Iterable[Mapping[str, Any]],
    first: date,
    last: date,
) -> int:
    """Replace silver's event_date partitions first..last with ``events`` of those dates.

    Events outside the range are left out on purpose (partial days at the edges of a
    generated run); returns the rows written.
    """
    tables = Tables(cfg)
    path = tables.ensure(spark, "silver_playback")
    with tempfile.TemporaryDirectory(prefix="vodlake-history-") as tmp:
        _write_parquet(events, tmp, batch=200_000)
        df = silver_frame(spark, tmp).where(F.col("event_date").between(F.lit(first), F.lit(last)))
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"event_date >= '{first}' AND event_date <= '{last}'")
            .save(path)
        )
    return last_write_rows(spark, path)


@dataclass(frozen=True)
class History:
    first: date
    last: date
    rows: int
    catalog_bytes: int
    catalog_files: int
    titles: int

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def generate_history(
    spark: SparkSession,
    cfg: Config,
    *,
    first: date,
    days: int,
    sessions_per_day: int,
    seed: int,
    catalog: Sequence[CatalogVideo] | None = None,
    params: SimParams | None = None,
) -> History:
    """Generate ``days`` complete UTC days of playback starting at ``first`` into silver.

    The generator's day is each region's local calendar day, so UTC dates at both ends of a run
    are partial; generating from the day before and keeping ``first .. first+days-1`` gives
    only complete days.
    """
    if days < 1:
        raise VodlakeError(f"days must be at least 1 (got {days})")
    catalog = list(catalog) if catalog is not None else short_catalog(EVAL_TITLES, seed)
    start = datetime.combine(first - timedelta(days=1), time(0), tzinfo=timezone.utc)
    events = generate(
        catalog, cfg.topology, days + 1, sessions_per_day, seed, start=start, params=params
    )
    last = first + timedelta(days=days - 1)
    rows = write_silver(spark, cfg, events, first, last)
    return History(
        first=first,
        last=last,
        rows=rows,
        catalog_bytes=catalog_bytes(catalog),
        catalog_files=catalog_files(catalog),
        titles=len(catalog),
    )
