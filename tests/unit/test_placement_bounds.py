"""The bounds a nightly prefill is judged by, on traces small enough to work out by hand.

No Spark: `vodlake.placement.replay`, `.model` and `.offline` are pandas + the numba simulator.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vodlake.cli import main as cli_main
from vodlake.errors import VodlakeError
from vodlake.placement import model, offline, replay
from vodlake.placement import simulator as cachesim

# Day before (not counted): A then C. Test day: A B A C D A C with A 10 B, B 20 B, C 5 B, D 10 B.
PREV = [(0.0, "A", 10), (1.0, "C", 5)]
TEST = [
    (100.0, "A", 10),
    (101.0, "B", 20),
    (102.0, "A", 10),
    (103.0, "C", 5),
    (104.0, "D", 10),
    (105.0, "A", 10),
    (106.0, "C", 5),
]  # requested 70 B; distinct 45 B


def _trace() -> pd.DataFrame:
    rows = [(*r, False) for r in PREV] + [(*r, True) for r in TEST]
    frame = pd.DataFrame(rows, columns=["time", "object_id", "size", "is_test"])
    return frame.assign(edge_id="e1")


def _by_policy(rows: pd.DataFrame) -> dict[str, int]:
    return dict(zip(rows["policy"], rows["hit_bytes"], strict=True))


def test_bounds_and_warm_baselines_by_hand() -> None:
    cap = replay.Capacity("15 B", 15, 15 / 45)
    rows = replay.replay_edge(_trace(), [cap], {"15 B": {"D": 10, "C": 5}})
    got = _by_policy(rows)
    assert set(rows["bytes"]) == {70} and set(rows["working_set_bytes"]) == {45}
    # Clairvoyant: densities A 30/10=3, C 10/5=2, B 1, D 1: A (10 B) then C (5 B) fill 15 B;
    # they serve 30 + 10 = 40 B.
    assert got["clairvoyant-static"] == 40
    # Ceiling: every repeat hits, first requests miss: 70 - 45 = 25 B.
    assert got["compulsory-ceiling"] == 25
    # Prefill {D, C}: D once (10) + C twice (10) = 20 B; half of the bound.
    assert got["prefill"] == 20
    # Warm LRU holds A, C at midnight: A hit, B too big, A hit, C hit, D evicts A (then C? no:
    # C 5 + D 10 = 15 fits after A goes), A evicts C and D, C readmitted: 10 + 10 + 5 = 25 B.
    assert got["lru-warm"] == 25
    # Warm Belady with bypass: D is never requested again, so it is not admitted and A, C stay:
    # A, A, C, A, C hit = 40 B (plain Belady admits D, evicting both, and serves 25 B).
    assert got["belady-warm"] == 40
    full = cachesim.Trace.from_arrays(*zip(*[r for r in PREV + TEST], strict=True))
    plain = cachesim.replay(full, "belady", 15)[2:]
    assert int(full.sizes[2:][plain].sum()) == 25
    verdict = replay.verdicts(rows).iloc[0]
    assert verdict["prefill_fraction_of_bound"] == pytest.approx(20 / 40)
    assert verdict["points_over_lru_warm"] == pytest.approx(100 * (20 - 25) / 70)


def test_clairvoyant_ties_break_by_object_id_and_skip_what_does_not_fit() -> None:
    test = pd.DataFrame(
        {"object_id": ["b", "a", "c", "c"], "size": [10, 10, 30, 30], "time": [1, 2, 3, 4]}
    )
    # a and b both serve 1x their size, c 2x: c (30) first, then a (10) fits in 45, b does not.
    assert replay.clairvoyant_fill(test, 45) == {"c": 30, "a": 10}
    # greedy skips a file that does not fit and keeps walking
    assert replay.clairvoyant_fill(test, 25) == {"a": 10, "b": 10}


def test_capacities_are_shares_of_the_working_set_and_the_configured_size() -> None:
    caps = replay.capacities_for(1000, (0.01, 0.5), configured=300)
    assert [(c.label, c.bytes) for c in caps] == [
        ("1% of working set", 10),
        ("50% of working set", 500),
        ("configured", 300),
    ]
    with pytest.raises(VodlakeError):
        replay.capacities_for(0)


def _requests(rows: list[tuple[float, str, int]], edge: str = "e1") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["time", "object_id", "size"]).assign(edge=edge)
    return offline.normalize(frame)


def test_prefill_loses_to_warm_lru_when_tomorrow_is_not_like_yesterday() -> None:
    day = offline.DAY_S
    # x (10 B) is asked 5 times on days 0 and 1; on day 2 only y (10 B), 4 times.
    rows = [(d * day + i, "x", 10) for d in (0, 1) for i in range(5)]
    rows += [(2 * day + i, "y", 10) for i in range(4)]
    ev = offline.evaluate_requests(
        _requests(rows), train_days=2, capacities=[offline.CapacitySpec("10 B", bytes=10)]
    )
    rec = next(r for r in ev.records() if r["edge"] == "e1")
    # The forecast keeps x: no hit. Warm LRU misses y once (evicting x), then hits 3 of 4.
    assert rec["prefill"] == 0.0
    assert rec["lru_warm"] == pytest.approx(0.75)
    assert rec["clairvoyant_static"] == 1.0  # y alone, known in hindsight
    assert rec["compulsory_ceiling"] == pytest.approx(0.75)
    assert rec["prefill_fraction_of_bound"] == 0.0
    assert rec["points_over_lru_warm"] == pytest.approx(-75.0)


def _release_requests() -> tuple[pd.DataFrame, model.Catalog]:
    day = offline.DAY_S
    rows = []
    for d in range(3):  # an old title, steady
        rows += [(d * day + i, f"old/r/{i % 2}", 10) for i in range(4)]
    # p1 launched on day 1: 10 sessions watched chunks 0 and 1 that day, 2 the day after
    rows += [(1 * day + 100 + i, f"p1/r/{i % 2}", 10) for i in range(20)]
    rows += [(2 * day + 100 + i, f"p1/r/{i % 2}", 10) for i in range(4)]
    files = pd.DataFrame(
        [(f"{v}/r/{c}", v, "r", c, 10) for v in ("old", "p1", "new") for c in (0, 1)],
        columns=["object_id", "video_id", "rendition", "chunk_idx", "size"],
    )
    titles = pd.DataFrame(
        {"video_id": ["old", "p1", "new"], "release_day": [np.nan, 1.0, 3.0]}
    )  # "new" launches on day 3, the day being forecast
    return _requests(sorted(rows)), model.Catalog(files, titles)


def test_a_title_launching_tomorrow_is_filled_before_launch() -> None:
    requests, catalog = _release_requests()
    fc = model.forecast(requests, 3, catalog=catalog)
    fill = model.place(fc[fc["edge_id"] == "e1"], 20)
    # p1's launch day had 20 requests at this edge: "new" is forecast like it, above the old
    # title (4/day) and above p1 two days after its launch.
    assert set(fill) == {"new/r/0", "new/r/1"}
    # Without the release schedule nobody could know: nothing of "new" is forecast.
    blind = model.forecast(requests, 3)
    assert not blind["object_id"].str.startswith("new/").any()


def test_rerunning_an_evaluation_changes_nothing() -> None:
    requests, catalog = _release_requests()
    day = offline.DAY_S
    test = _requests([(3 * day + i, f"new/r/{i % 2}", 10) for i in range(6)])
    both = pd.concat([requests, test], ignore_index=True)
    specs = offline.parse_capacity_list("50%,20")
    first = offline.evaluate_requests(both, train_days=3, capacities=specs, catalog=catalog)
    again = offline.evaluate_requests(both, train_days=3, capacities=specs, catalog=catalog)
    assert first.records() == again.records()
    rec = next(r for r in first.records() if r["capacity"] == "20")
    assert rec["prefill"] == 1.0  # the launch was filled the night before: every request hits


def _independent_trace(path, seed: int = 7) -> None:
    """A request log vodlake did not make: two edges, Zipf-ish ids, drifting ranks, 4 days."""
    rng = np.random.default_rng(seed)
    n = 300
    sizes = rng.integers(1_000, 50_000, n)
    lines = ["time,object_id,size,edge"]
    for day in range(4):
        for edge, shift in (("pop-a", 0), ("pop-b", 40)):
            ranks = (np.arange(n) + shift + 3 * day) % n
            p = 1.0 / (ranks + 1.0) ** 0.9
            objects = rng.choice(n, 800, p=p / p.sum())
            times = day * 86_400 + np.sort(rng.uniform(0, 86_400, 800))
            lines += [
                f"{t:.3f},item-{o},{sizes[o]},{edge}" for t, o in zip(times, objects, strict=True)
            ]
    path.write_text("\n".join(lines) + "\n")


def test_cli_evaluates_a_csv_trace_vodlake_did_not_make(tmp_path, capsys) -> None:
    trace = tmp_path / "log.csv"
    _independent_trace(trace)
    args = ["placement", "evaluate", "--trace", str(trace), "--train-days", "3"]
    assert cli_main([*args, "--capacity", "5%,20%,200KB", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["edge"] for r in records} == {"pop-a", "pop-b", "ALL"}
    assert len(records) == 3 * 3
    for r in records:
        assert r["day"] == 3
        for key in ("prefill", "clairvoyant_static", "compulsory_ceiling", "lru_warm"):
            assert 0 <= r[key] <= 1
        assert 0 <= r["belady_warm"] <= 1
        assert r["prefill"] <= r["clairvoyant_static"] + 1e-12  # never above its bound
        assert r["prefill_fraction_of_bound"] == pytest.approx(
            r["prefill"] / r["clairvoyant_static"], rel=1e-4
        )
    # the table form prints the same figures for people
    assert cli_main([*args, "--capacity", "5%"]) == 0
    text = capsys.readouterr().out
    assert "clairvoyant" in text and "pop-a" in text and "of bound" in text


def test_cli_refuses_a_trace_without_the_columns(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n1,a\n")
    args = ["placement", "evaluate", "--trace", str(bad), "--train-days", "1", "--capacity", "5%"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) time, object_id, size" in err and "hint:" in err
