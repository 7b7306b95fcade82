"""The batch tag in commitInfo.userMetadata, and what a ledger asks a table (no JVM)."""

from __future__ import annotations

import pytest

from vodlake.lake import streams
from vodlake.lake.streams import BatchLedger, batch_tag, tagged_batch


def test_a_tag_names_its_query_and_batch() -> None:
    tag = batch_tag("playback_ingest:/ckpt/a", 12)
    assert tagged_batch(tag, "playback_ingest:/ckpt/a") == 12
    assert tagged_batch(tag, "playback_ingest:/ckpt/b") is None  # another checkpoint


@pytest.mark.parametrize(
    "metadata", [None, "", "nightly backfill", "{not json", '{"vodlake.batch": "3", "app": "q"}']
)
def test_other_metadata_is_no_tag(metadata) -> None:
    assert tagged_batch(metadata, "q") is None


def test_a_ledger_asks_each_table_once_per_run(monkeypatch) -> None:
    asked: list[str] = []

    def txn(spark, path, app_id):
        asked.append(path)
        return {"/a": 4, "/b": -1}[path]

    monkeypatch.setattr(streams, "delta_txn_version", txn)
    monkeypatch.setattr(streams, "last_tagged_batch", lambda spark, path, app_id: 2)
    run = BatchLedger("q")
    assert run.holds(None, "/a", 4) and not run.holds(None, "/a", 5)
    assert run.holds(None, "/b", 2) and not run.holds(None, "/b", 3)
    run.record("/a", 5)
    assert run.holds(None, "/a", 5) and not run.holds(None, "/a", 6)
    assert asked == ["/a", "/b"]
