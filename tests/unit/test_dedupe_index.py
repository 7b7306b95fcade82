"""The playback dedupe's driver-side index (RecentIds): which ids it calls candidates, and that
it stays a superset of what it was given from its floor on, through merges and trims."""

from __future__ import annotations

import numpy as np

from vodlake.telemetry.ingest import RecentIds, SearchWindow


def _loaded(max_rows: int, floor_us: int = 0) -> RecentIds:
    index = RecentIds(max_rows)
    index.floor_us = floor_us  # what load() sets after reading silver (an empty one here)
    return index


def _window(first_us: int) -> SearchWindow:
    return SearchWindow(None, None, first_us, first_us + 10)


def test_candidates_are_ids_repeated_in_the_batch_or_already_held() -> None:
    index = _loaded(1000)
    index.add(np.array([10, 20, 30], np.int64), np.array([1, 2, 3], np.int64))
    batch = np.array([20, 40, 40, 50, 10, 60], np.int64)
    assert index.candidates(batch).tolist() == [10, 20, 40]
    assert index.candidates(np.array([70, 80], np.int64)).tolist() == []


def test_membership_survives_merging_many_chunks() -> None:
    index = _loaded(10_000)
    rng = np.random.default_rng(3)
    added = []
    for _ in range(RecentIds.MERGE_AFTER * 2 + 3):
        hashes = rng.integers(-(2**62), 2**62, 50, dtype=np.int64)
        index.add(hashes, rng.integers(0, 1000, 50, dtype=np.int64))
        added.append(hashes)
    every = np.concatenate(added)
    assert len(index._chunks) <= RecentIds.MERGE_AFTER
    assert set(index.candidates(every).tolist()) == set(every.tolist())
    fresh = np.array([2**62 + 1, 2**62 + 2], np.int64)  # outside the drawn range
    assert index.candidates(fresh).tolist() == []


def test_trim_raises_the_floor_and_keeps_every_row_from_it_on() -> None:
    index = _loaded(100, floor_us=0)
    hashes = np.arange(150, dtype=np.int64)
    times = np.arange(150, dtype=np.int64) * 1000
    index.add(hashes, times)
    assert index.rows <= 100
    assert index.floor_us is not None and index.floor_us > 0
    kept = hashes[times >= index.floor_us]
    assert set(index.candidates(kept).tolist()) == set(kept.tolist())
    assert index.covers(_window(index.floor_us))
    assert not index.covers(_window(index.floor_us - 1))  # a late event reads silver


def test_an_unloaded_or_disabled_index_covers_nothing() -> None:
    assert not RecentIds(1000).covers(_window(5))
    off = RecentIds(0)
    assert off.disabled and not off.covers(_window(5))
    off.add(np.array([1], np.int64), np.array([1], np.int64))
    assert off.rows == 0
