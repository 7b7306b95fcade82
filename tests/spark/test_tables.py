"""Tables.ensure: an existing table is brought to its declared shape."""

from __future__ import annotations

from pathlib import Path


def test_ensure_gives_an_older_streamed_table_its_checkpoint_interval(
    spark, make_cfg, tmp_path: Path
) -> None:
    """A table made before its properties were declared gets them on the next ensure."""
    from vodlake.lake.tables import TABLES, Tables

    tables = Tables(make_cfg())
    path = tables.path("bronze_playback")
    spark.createDataFrame([], TABLES["bronze_playback"].schema).write.format("delta").save(path)

    def interval() -> str | None:
        shown = spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
        return {r["key"]: r["value"] for r in shown}.get("delta.checkpointInterval")

    assert interval() is None
    tables.ensure(spark, "bronze_playback")
    assert interval() == "1000000"  # Delta never checkpoints inside a commit: the query does
    version = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").agg({"version": "max"}).first()[0]
    tables.ensure(spark, "bronze_playback")  # nothing left to change: no new commit
    assert spark.sql(f"DESCRIBE HISTORY delta.`{path}`").agg({"version": "max"}).first()[0] == (
        version
    )


def test_silver_and_bronze_files_carry_statistics_only_for_the_skipping_columns(
    spark, make_cfg
) -> None:
    """The files the ingest appends have min/max for the columns readers filter on, and for
    no others (each string column's min/max costs a comparison per row on the way in)."""
    import json

    from pyspark.sql import functions as F

    from vodlake.lake.tables import TABLES, Tables

    tables = Tables(make_cfg())
    stats: dict[str, set[str]] = {}
    for name in ("bronze_playback", "silver_playback"):
        path = tables.ensure(spark, name)
        schema = TABLES[name].schema
        row = spark.range(3).select(
            *[
                F.lit("2026-11-02").cast(f.dataType).alias(f.name)
                if f.dataType.simpleString() == "date"
                else (F.col("id") + 1).cast(f.dataType).alias(f.name)
                if f.dataType.simpleString() in ("int", "bigint", "timestamp")
                else F.concat(F.lit("v"), F.col("id")).cast(f.dataType).alias(f.name)
                for f in schema.fields
            ]
        )
        row.write.format("delta").mode("append").save(path)
        log = Path(path, "_delta_log", "00000000000000000001.json").read_text().splitlines()
        adds = [json.loads(line)["add"] for line in log if '"add"' in line]
        stats[name] = {k for a in adds for k in json.loads(a["stats"])["minValues"]}
    assert stats["silver_playback"] == {"event_time", "kafka_partition", "kafka_offset"}
    assert stats["bronze_playback"] == {
        "partition",
        "offset",
        "kafka_timestamp",
        "ingested_at",
        "batch_id",
    }
