"""Playback reconciliation: bronze rows = silver rows + quarantined rows + duplicates removed.

Each term is counted from the tables themselves, not from counters the pipeline kept: a bronze
row is a silver row's source (same Kafka partition and offset), or quarantined (same position),
or a removed duplicate (its event_id is in silver under another position). A row that silver
lost, or a row written twice to silver or quarantine, breaks the equation.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake.tables import Tables
from vodlake.transforms.playback import QUARANTINE_SOURCE, removed_duplicates


@dataclass(frozen=True)
class Reconciliation:
    bronze: int
    silver: int
    quarantine: int
    duplicates: int
    bronze_repeats: int  # bronze rows sharing a Kafka position (bronze itself not exactly once)
    silver_repeats: int = 0  # silver rows whose event_id another silver row has (information)

    @property
    def unaccounted(self) -> int:
        return self.bronze - self.silver - self.quarantine - self.duplicates

    @property
    def holds(self) -> bool:
        return self.unaccounted == 0 and self.bronze_repeats == 0

    def lines(self) -> list[str]:
        width = len(f"{max(self.bronze, self.silver, self.quarantine, self.duplicates):,}")
        rows = [
            ("bronze_playback rows", self.bronze),
            ("silver_playback rows", self.silver),
            ("quarantine_playback rows", self.quarantine),
            ("duplicates removed", self.duplicates),
        ]
        out = [f"  {label:<26}{n:>{width},}" for label, n in rows]
        verdict = "holds" if self.holds else f"DOES NOT HOLD (unaccounted {self.unaccounted:+,})"
        out.append(
            f"  {self.bronze:,} = {self.silver:,} + {self.quarantine:,} + {self.duplicates:,}"
            f"  -> {verdict}"
        )
        if self.bronze_repeats:
            out.append(f"  bronze rows repeating a Kafka position: {self.bronze_repeats:,}")
        if self.silver_repeats:
            out.append(
                f"  silver rows repeating an event_id (copies further apart than "
                f"playback.dedupe_window): {self.silver_repeats:,}"
            )
        return out


def reconcile_playback(spark: SparkSession, cfg: Config) -> Reconciliation:
    """Count the four terms from bronze_playback, silver_playback and quarantine_playback."""
    tables = Tables(cfg)
    missing = [n for n in ("bronze_playback", "silver_playback") if not tables.exists(spark, n)]
    if missing:
        raise VodlakeError(
            f"no {' or '.join(missing)} table under {tables.lake}",
            hint="ingest first: vodlake stream playback --once",
        )
    bronze = tables.read(spark, "bronze_playback").persist()
    silver = tables.read(spark, "silver_playback").select(
        "event_id", "kafka_partition", "kafka_offset"
    )
    if tables.exists(spark, "quarantine_playback"):
        quarantine = tables.read(spark, "quarantine_playback").where(
            F.col("source") == QUARANTINE_SOURCE
        )
    else:
        quarantine = spark.createDataFrame([], "kafka_partition int, kafka_offset long")
    try:
        positions = bronze.select("partition", "offset")
        bronze_rows = bronze.count()
        silver_rows = silver.count()
        return Reconciliation(
            bronze=bronze_rows,
            silver=silver_rows,
            quarantine=quarantine.count(),
            duplicates=removed_duplicates(bronze, silver, quarantine).count(),
            bronze_repeats=bronze_rows - positions.distinct().count(),
            silver_repeats=silver_rows - silver.select("event_id").distinct().count(),
        )
    finally:
        bronze.unpersist()
