"""The search sync's plan: what a sync does, decided from the facts alone (no Spark, no ES)."""

from __future__ import annotations

import pytest

from vodlake.errors import VodlakeError
from vodlake.search.sync import SyncFacts, SyncPlan, plan_sync


def facts(saved: int | None, latest: int, saved_id: str | None = "t1", tid: str = "t1"):
    return SyncFacts(
        saved_version=saved,
        saved_table_id=saved_id if saved is not None else None,
        latest_version=latest,
        table_id=tid,
    )


def test_first_sync_is_a_snapshot_at_the_latest_version() -> None:
    assert plan_sync(facts(None, 4)) == SyncPlan("snapshot", None, 4)


def test_next_sync_reads_the_changes_after_the_saved_version() -> None:
    assert plan_sync(facts(2, 5)) == SyncPlan("changes", 3, 5)


def test_nothing_new_is_up_to_date() -> None:
    assert plan_sync(facts(5, 5)) == SyncPlan("up-to-date", 6, 5)


def test_a_new_index_needs_a_snapshot_whatever_was_saved() -> None:
    assert plan_sync(facts(2, 5), index_created=True) == SyncPlan("snapshot", None, 5)


@pytest.mark.parametrize(
    ("saved", "latest", "saved_id", "tid"),
    [(7, 2, "t1", "t1"), (1, 2, "t1", "t2")],
    ids=["saved beyond the table", "another table id"],
)
def test_a_recreated_table_is_reindexed(saved: int, latest: int, saved_id: str, tid: str) -> None:
    f = facts(saved, latest, saved_id, tid)
    assert f.table_recreated
    assert plan_sync(f) == SyncPlan("reindex", None, latest)


def test_a_state_without_table_id_is_not_a_recreated_table() -> None:
    f = SyncFacts(saved_version=1, saved_table_id=None, latest_version=3, table_id="t9")
    assert not f.table_recreated
    assert plan_sync(f) == SyncPlan("changes", 2, 3)


def test_from_version_replays_even_over_a_recreated_table() -> None:
    assert plan_sync(facts(1, 4, "t1", "t2"), from_version=0) == SyncPlan("changes", 0, 4)
    assert plan_sync(facts(4, 4), from_version=9) == SyncPlan("up-to-date", 9, 4)


def test_a_negative_from_version_is_refused() -> None:
    with pytest.raises(VodlakeError, match="0 or more"):
        plan_sync(facts(1, 4), from_version=-1)
