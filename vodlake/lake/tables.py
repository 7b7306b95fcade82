"""Table names and paths: the one place that says where each Delta table and checkpoint lives.

Tables are path-based Delta tables under `paths.lake`, so the same code runs on a laptop
(`file://`) and on a cluster (`s3a://`), with or without a metastore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from vodlake import schemas
from vodlake.config import Config


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: StructType
    partition_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)


_CDF = {"delta.enableChangeDataFeed": "true"}
# Appended by a streaming query every micro-batch (a second apart at a 1 s trigger). Delta
# writes a checkpoint inside the commit that reaches a multiple of `delta.checkpointInterval`,
# rebuilding the table state first: at Delta's 10 one batch in ten was some 3 s late, at 100
# one in a hundred 4 s late (it replays 100 commits), and those batches set the ingest's p99.
# So Delta's own interval is set out of reach and the query writes the checkpoints itself,
# every STREAMED_CHECKPOINT_EVERY commits, in a thread beside its batches
# (vodlake.lake.streams.DeltaCheckpointer); 100 is delta-rs's default.
STREAMED_CHECKPOINT_EVERY = 100
_STREAMED = {"delta.checkpointInterval": "1000000"}
# File statistics (min, max, null count) only where a reader's predicate can skip files: Delta
# keeps them for the first 32 columns, comparing every row's strings on the way, and for
# random ids (event_id, session_id, user_id) or values spread over every file (video_id,
# region) min and max never rule a file out. Silver is read by event_date (its partitions),
# event_time (the dedupe window, the id index) and Kafka position (reconciliation); bronze by
# batch, position and time.
_SILVER_STATS = {"delta.dataSkippingStatsColumns": "event_time,kafka_partition,kafka_offset"}
_BRONZE_STATS = {
    "delta.dataSkippingStatsColumns": "partition,offset,kafka_timestamp,ingested_at,batch_id"
}

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("demo_events", schemas.DEMO_TABLE),
        TableSpec("videos", schemas.VIDEOS, properties=_CDF),
        TableSpec("renditions", schemas.RENDITIONS),
        TableSpec("segments", schemas.SEGMENTS),
        TableSpec("bronze_playback", schemas.BRONZE_PLAYBACK, properties=_STREAMED | _BRONZE_STATS),
        TableSpec(
            "silver_playback",
            schemas.SILVER_PLAYBACK,
            partition_by=("event_date",),
            properties=_STREAMED | _SILVER_STATS,
        ),
        TableSpec("quarantine_playback", schemas.QUARANTINE, properties=_STREAMED),
        TableSpec("gold_popularity", schemas.GOLD_POPULARITY, partition_by=("date",)),
        TableSpec("placement", schemas.PLACEMENT, partition_by=("date",)),
        TableSpec("placement_eval", schemas.PLACEMENT_EVAL, partition_by=("date",)),
        TableSpec("sync_state", schemas.SYNC_STATE),
        TableSpec("edge_fills", schemas.EDGE_FILLS, partition_by=("date",)),
        TableSpec("edge_inventory", schemas.EDGE_INVENTORY, partition_by=("date",)),
        TableSpec("bronze_edge_requests", schemas.BRONZE_EDGE_REQUESTS),
        TableSpec("edge_requests", schemas.EDGE_REQUESTS, partition_by=("date",)),
        TableSpec("quarantine_edge_requests", schemas.QUARANTINE),
        TableSpec("gold_edge_daily", schemas.GOLD_EDGE_DAILY, partition_by=("date",)),
    )
}


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


class Tables:
    """Paths of tables and checkpoints for one configuration."""

    def __init__(self, cfg: Config) -> None:
        self.lake = cfg.paths.lake
        self.checkpoints = cfg.paths.checkpoints

    @classmethod
    def under(cls, lake: str, checkpoints: str) -> Tables:
        """The declared tables in another place (a benchmark's scratch lake)."""
        tables = cls.__new__(cls)
        tables.lake, tables.checkpoints = lake, checkpoints
        return tables

    def path(self, name: str) -> str:
        if name not in TABLES:
            raise KeyError(f"unknown table '{name}' (known: {', '.join(sorted(TABLES))})")
        return _join(self.lake, name)

    def checkpoint(self, query: str) -> str:
        """A unique checkpoint folder per streaming query."""
        return _join(self.checkpoints, query)

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        return spark.read.format("delta").load(self.path(name))

    def exists(self, spark: SparkSession, name: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(spark, self.path(name))

    def ensure(self, spark: SparkSession, name: str) -> str:
        """Create the table with its declared schema if it does not exist; return its path."""
        from delta.tables import DeltaTable

        spec = TABLES[name]
        path = self.path(name)
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(spec.schema)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for key, value in spec.properties.items():
            builder = builder.property(key, value)
        builder.execute()
        # A table made before a schema gained columns gets them (nullable, so old rows read
        # as null): writers may then name every declared column.
        table = DeltaTable.forPath(spark, path)
        have = {f.name for f in table.toDF().schema.fields}
        missing = [f for f in spec.schema.fields if f.name not in have]
        if missing:
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
            spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")
        # and the declared properties, for a table made before they were declared
        if spec.properties:
            shown = spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
            stored = {row["key"]: row["value"] for row in shown}
            changed = {k: v for k, v in spec.properties.items() if stored.get(k) != v}
            if changed:
                pairs = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(changed.items()))
                spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({pairs})")
        return path

    def replace_date(self, spark: SparkSession, name: str, df: DataFrame, day: date) -> str:
        """Replace the `date = day` rows of table `name` with `df` (created when missing).

        Only that date is overwritten, so rerunning a day is safe and other days stay; Delta
        refuses the write if a row of `df` has another date. Returns the table's path.
        """
        path = self.ensure(spark, name)
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"date = '{day}'")
            .save(path)
        )
        return path
