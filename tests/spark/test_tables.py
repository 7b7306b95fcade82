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
