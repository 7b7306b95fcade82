"""Idempotent micro-batch appends to a real Delta table: a run's first write asks the table,
later ones trust the run, and a replay across runs (or from an older release) adds nothing."""

from __future__ import annotations

from pathlib import Path

from vodlake.lake.streams import (
    BatchLedger,
    delta_txn_version,
    last_tagged_batch,
    write_delta_idempotent,
)


def _rows(spark, batch_id: int):
    return spark.range(3).selectExpr(f"{batch_id} AS batch_id", "id")


def _count(spark, path: str) -> int:
    return spark.read.format("delta").load(path).count()


def test_a_replayed_batch_in_the_next_run_is_skipped_and_the_next_batch_written(
    spark, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    run1 = BatchLedger("q:ckpt")
    for batch in (0, 1):
        assert write_delta_idempotent(_rows(spark, batch), path, "q:ckpt", batch, ledger=run1)
    assert _count(spark, path) == 6
    assert delta_txn_version(spark, path, "q:ckpt") == -1  # no Delta set-transaction asked

    run2 = BatchLedger("q:ckpt")  # after a crash: Spark replays batch 1
    assert not write_delta_idempotent(_rows(spark, 1), path, "q:ckpt", 1, ledger=run2)
    assert write_delta_idempotent(_rows(spark, 2), path, "q:ckpt", 2, ledger=run2)
    assert _count(spark, path) == 9
    assert last_tagged_batch(spark, path, "q:ckpt") == 2


def test_another_query_and_other_writers_do_not_confuse_the_ledger(spark, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_delta_idempotent(_rows(spark, 7), path, "q:ckpt", 7, ledger=BatchLedger("q:ckpt"))
    # 20 later commits by others (untagged, and another query's): more than the first page
    for i in range(20):
        _rows(spark, i).write.format("delta").mode("append").save(path)
    other = BatchLedger("other:ckpt")
    write_delta_idempotent(_rows(spark, 50), path, "other:ckpt", 50, ledger=other)
    assert last_tagged_batch(spark, path, "q:ckpt") == 7
    assert last_tagged_batch(spark, path, "new:ckpt") == -1
    run = BatchLedger("q:ckpt")
    assert run.holds(spark, path, 7) and not run.holds(spark, path, 8)


def test_a_batch_committed_the_delta_way_is_honoured(spark, tmp_path: Path) -> None:
    """Tables appended with txnAppId/txnVersion (no ledger: earlier releases) keep their
    guarantee when a ledger run replays the batch."""
    path = str(tmp_path / "t")
    for _ in range(2):  # Delta's own guard skips the second
        write_delta_idempotent(_rows(spark, 4), path, "q:ckpt", 4)
    assert _count(spark, path) == 3
    assert delta_txn_version(spark, path, "q:ckpt") == 4
    run = BatchLedger("q:ckpt")
    assert not write_delta_idempotent(_rows(spark, 4), path, "q:ckpt", 4, ledger=run)
    assert write_delta_idempotent(_rows(spark, 5), path, "q:ckpt", 5, ledger=run)
    assert _count(spark, path) == 6


def test_checkpoints_are_written_beside_the_appends_not_inside_them(spark, tmp_path: Path) -> None:
    """With Delta's own interval out of reach, every checkpoint in the log is the
    checkpointer's, started once the log is `every` commits past the last one."""
    from vodlake.lake.streams import DeltaCheckpointer

    path = str(tmp_path / "t")
    log = tmp_path / "t" / "_delta_log"
    _rows(spark, 0).write.format("delta").save(path)  # version 0
    never = "'delta.checkpointInterval' = '1000000'"
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({never})")  # version 1
    for batch in range(2, 11):  # versions 2..10, each followed by its check
        _rows(spark, batch).write.format("delta").mode("append").save(path)
        checkpointer = DeltaCheckpointer(every=3)
        checkpointer.committed(spark, path)
        checkpointer.close()  # wait for it, so the next check sees it
    versions = sorted(int(p.name.split(".")[0]) for p in log.glob("*.checkpoint.parquet"))
    # 3 commits past none (-1), then past each: none from Delta (it would have made 10)
    assert versions == [2, 5, 8]
    assert _count(spark, path) == 30
