"""The simulator's model of nginx's cache (misses stored at once, trimmed to max_size only when
the cache manager wakes) and the loop's sweep schedule."""

from __future__ import annotations

import numpy as np
import pytest

from vodlake.errors import VodlakeError
from vodlake.placement import simulator


def _trace(times, objs, sizes):
    return simulator.Trace.from_arrays(times, objs, sizes)


def test_without_a_sweep_every_miss_stays() -> None:
    trace = _trace([0, 1, 2, 3, 4, 5], list("abcabc"), [3] * 6)
    hit = simulator.replay_swept(trace, [], [])
    assert hit.tolist() == [False, False, False, True, True, True]
    # the instant LRU at the same limit evicts before admitting: no hit at all
    assert not simulator.replay(trace, "lru", 6).any()


def test_a_sweep_removes_least_recent_until_below_the_limit() -> None:
    trace = _trace([0, 1, 2, 3, 4, 5], list("abcabc"), [3] * 6)
    # at 2.5 the cache holds 9 >= 7: a goes (6 < 7), b and c stay
    hit = simulator.replay_swept(trace, [2.5], [7])
    assert hit.tolist() == [False, False, False, False, True, True]
    # nginx trims while size >= max_size: at a limit of 6 a second entry goes
    hit = simulator.replay_swept(trace, [2.5], [6])
    assert hit.tolist() == [False, False, False, False, False, True]


def test_a_hit_makes_an_entry_recent_and_stored_bytes_are_charged() -> None:
    trace = _trace([0, 1, 2, 3, 4], list("abacb"), [1, 1, 1, 1, 1])
    # a was used at 2, so b is least recent when the sweep at 3.5 trims 12 bytes to below 10
    hit = simulator.replay_swept(trace, [3.5], [10], stored=[4, 4, 4, 4, 4])
    assert hit.tolist() == [False, False, True, False, False]


def test_local_answers_hit_and_leave_the_cache_alone() -> None:
    trace = _trace([0, 1, 2, 3, 4], list("ababa"), [2] * 5)
    local = [False, False, True, False, False]  # a from the prefill store at 2: not made recent
    hit = simulator.replay_swept(trace, [2.5], [3], local=local)
    assert hit.tolist() == [False, False, True, True, False]


def test_bad_sweeps_are_errors() -> None:
    trace = _trace([0, 1], list("ab"), [1, 1])
    with pytest.raises(VodlakeError, match="shape"):
        simulator.replay_swept(trace, [1.0], [])
    with pytest.raises(VodlakeError, match="backwards"):
        simulator.replay_swept(trace, [2.0, 1.0], [1, 1])
    with pytest.raises(VodlakeError, match="one value per request"):
        simulator.replay_swept(trace, [], [], stored=np.ones(3))


def test_loop_sweeps_follow_each_cache_manager_run() -> None:
    from vodlake.delivery import edges, loop

    assert edges.CACHE_MANAGER_PERIOD_S == 10.0
    managers = loop.Managers(runs={"e": [(100.0, 5000), (125.0, 3000)]})
    times, limits = managers.sweeps("e", until=150.0)
    assert times == [100.0, 110.0, 120.0, 125.0, 135.0, 145.0]
    assert limits == [5000, 5000, 5000, 3000, 3000, 3000]
    assert managers.sweeps("other", until=150.0) == ([], [])


def test_cache_charge_is_whole_blocks_of_header_and_body() -> None:
    from vodlake.delivery import edges

    assert edges.cache_charge(1, 0, 4096) == 4096
    assert edges.cache_charge(4096 - 600, 600, 4096) == 4096
    assert edges.cache_charge(4096 - 599, 600, 4096) == 8192


def test_a_loader_walk_makes_cached_objects_recent_in_its_order() -> None:
    # a, b, c cached (c most recent); the walk at 2.5 re-adds them in rank order c, a, b,
    # so c is now least recent and the sweep at 3.5 removes it first
    trace = _trace([0, 1, 2, 4, 5, 6], list("abccab"), [3] * 6)
    rank = [1, 2, 0]  # labels order: a, b, c
    hit = simulator.replay_swept(trace, [3.5], [7], walk_times=[2.5], walk_rank=rank)
    assert hit.tolist() == [False, False, False, False, True, True]
    # without the walk the sweep removes a, the least recently used
    hit = simulator.replay_swept(trace, [3.5], [7])
    assert hit.tolist() == [False, False, False, True, False, True]
    with pytest.raises(VodlakeError, match="walk_rank"):
        simulator.replay_swept(trace, [], [], walk_times=[1.0])


def test_loop_walks_skip_a_loader_a_reload_ended() -> None:
    from vodlake.delivery import loop

    # nginx started at 100 (loader due at 160); reloaded at 130 while cold: a new loader
    managers = loop.Managers(
        runs={"e": [(100.0, 5000), (130.0, 3000)]}, loaders={"e": [100.02, 130.01]}
    )
    assert managers.walks("e") == [pytest.approx(190.01)]
