"""Unit tests for vodlake.cachesim: hand-worked traces per policy, plus a seeded cross-check
against small pure-Python reference caches written independently of the numba kernels."""

from __future__ import annotations

import argparse
import bisect
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vodlake.commands import cachesim as cli
from vodlake.errors import VodlakeError
from vodlake.placement.simulator import (
    BELADY_NOTE,
    RESULT_COLUMNS,
    Trace,
    load_manifest,
    parse_capacity,
    read_trace,
    replay,
    simulate,
    simulate_frame,
)


def make(reqs: list[tuple[str, int]], times: list[float] | None = None) -> Trace:
    """Trace from (object_id, size) pairs; times default to 0, 1, 2, ..."""
    ids = [o for o, _ in reqs]
    sizes = [s for _, s in reqs]
    return Trace.from_arrays(times if times is not None else range(len(reqs)), ids, sizes)


def hit_indices(trace: Trace, policy: str, capacity: int, **kw) -> list[int]:
    return np.flatnonzero(replay(trace, policy, capacity, **kw)).tolist()


# ------------------------------------------------------------------------------------ LRU


def test_lru_variable_sizes_multiple_evictions() -> None:
    # capacity 10
    # 0 A4 miss          [A]        used 4
    # 1 B3 miss          [A B]      used 7
    # 2 C3 miss          [A B C]    used 10
    # 3 A4 HIT           [B C A]
    # 4 D6 miss: 10+6>10 evict B (7), 7+6>10 evict C (4), 4+6=10 fits -> [A D] used 10
    # 5 B3 miss: 10+3>10 evict A (6) -> [D B] used 9
    # 6 A4 miss: 9+4>10 evict D (3) -> [B A] used 7
    t = make([("A", 4), ("B", 3), ("C", 3), ("A", 4), ("D", 6), ("B", 3), ("A", 4)])
    assert hit_indices(t, "lru", 10) == [3]
    r = simulate(t, "lru", 10)
    assert (r.requests, r.hits, r.bytes, r.hit_bytes) == (7, 1, 27, 4)
    assert r.hit_ratio == pytest.approx(1 / 7)
    assert r.byte_hit_ratio == pytest.approx(4 / 27)
    assert r.note is None


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "belady", "ttl"])
def test_object_larger_than_cache_is_a_miss_and_not_admitted(policy: str) -> None:
    # capacity 5: X (6 bytes) can never fit. It is a miss each time and is not admitted, so it
    # does not evict A either: A misses once, then hits.
    # 0 A2 miss [A]; 1 X6 miss, not admitted [A]; 2 A2 HIT; 3 X6 miss, not admitted
    t = make([("A", 2), ("X", 6), ("A", 2), ("X", 6)])
    kw = {"ttl": 1000.0} if policy == "ttl" else {}
    assert hit_indices(t, policy, 5, **kw) == [2]
    r = simulate(t, policy, 5, **kw)
    assert (r.hits, r.hit_bytes, r.bytes) == (1, 2, 16)


def test_hit_keeps_the_stored_size() -> None:
    # capacity 10. A comes back with size 8; the hit does not change the stored size (4).
    # 0 A4 miss [A] used 4
    # 1 A8 HIT, stored size stays 4; hit bytes count the request's 8
    # 2 B6 miss: 4+6=10 fits, nothing evicted [A B]
    # 3 A4 HIT (had the size become 8, B would have evicted A and this would miss)
    t = make([("A", 4), ("A", 8), ("B", 6), ("A", 4)])
    assert hit_indices(t, "lru", 10) == [1, 3]
    r = simulate(t, "lru", 10)
    assert (r.hits, r.hit_bytes, r.bytes) == (2, 12, 22)


def test_lru_object_exactly_filling_the_cache_is_admitted() -> None:
    # capacity 5: A5 fits exactly (5 <= 5) and then hits; B1 has to evict it.
    # 0 A5 miss [A]; 1 A5 HIT; 2 B1 miss, evict A [B]; 3 A5 miss, evict B [A]
    t = make([("A", 5), ("A", 5), ("B", 1), ("A", 5)])
    assert hit_indices(t, "lru", 5) == [1]


# ------------------------------------------------------------------------------------ FIFO


def test_fifo_differs_from_lru() -> None:
    # unit sizes, capacity 2; trace A B A C A
    # LRU : A m, B m, A HIT -> [B A], C m evicts B -> [A C], A HIT          => hits at 2, 4
    # FIFO: A m, B m, A HIT (no reorder, [A B]), C m evicts A -> [B C], A m  => hit at 2 only
    t = make([("A", 1), ("B", 1), ("A", 1), ("C", 1), ("A", 1)])
    assert hit_indices(t, "lru", 2) == [2, 4]
    assert hit_indices(t, "fifo", 2) == [2]
    assert simulate(t, "fifo", 2).hits == 1


def test_fifo_variable_sizes() -> None:
    # capacity 8
    # 0 A3 miss [A] 3; 1 B3 miss [A B] 6; 2 A3 HIT (order stays [A B])
    # 3 C4 miss: 6+4>8 evict A (3), 3+4=7 fits -> [B C] 7
    # 4 B3 HIT; 5 A3 miss: 7+3>8 evict B (4), 4+3=7 -> [C A] 7; 6 B3 miss: evict C -> [A B] 6
    t = make([("A", 3), ("B", 3), ("A", 3), ("C", 4), ("B", 3), ("A", 3), ("B", 3)])
    assert hit_indices(t, "fifo", 8) == [2, 4]
    assert simulate(t, "fifo", 8).hit_bytes == 6


# ------------------------------------------------------------------------------------ LFU


def test_lfu_differs_from_lru() -> None:
    # unit sizes, capacity 2; trace A A B C A
    # LRU: A m, A HIT, B m [A B], C m evicts A (least recent) -> [B C], A m       => hit at 1
    # LFU: A m (1), A HIT (2), B m (1), C m evicts B (count 1 < 2) -> [A C], A HIT => hits 1, 4
    t = make([("A", 1), ("A", 1), ("B", 1), ("C", 1), ("A", 1)])
    assert hit_indices(t, "lru", 2) == [1]
    assert hit_indices(t, "lfu", 2) == [1, 4]


def test_lfu_ties_go_to_the_least_recent() -> None:
    # unit sizes, capacity 2; trace A B B A C B A
    # 0 A m (A:1)  1 B m (B:1)  2 B HIT (B:2)  3 A HIT (A:2, now the most recent)
    # 4 C m: A and B both count 2; B was requested least recently (at 2) -> evict B. [A:2 C:1]
    # 5 B m: evict lowest count, C -> [A:2 B:1]
    # 6 A HIT
    # (Breaking the tie by insertion order would evict A at 4, and then 5 would hit, 6 miss.)
    t = make([("A", 1), ("B", 1), ("B", 1), ("A", 1), ("C", 1), ("B", 1), ("A", 1)])
    assert hit_indices(t, "lfu", 2) == [2, 3, 6]


def test_lfu_forgets_counts_on_eviction_and_evicts_several() -> None:
    # capacity 6
    # 0 A2 m (A:1) 2   1 A2 HIT (A:2)   2 A2 HIT (A:3)   3 B2 m (B:1) 4   4 C2 m (C:1) 6
    # 5 D4 m: 6+4>6 evict lowest count, least recent: B -> 4; 4+4>6 evict C -> 2; fits [A:3 D:1]
    # 6 B2 m (new, count 1): 6+2>6 evict D (count 1) -> [A:3 B:1] 4
    # 7 D4 m: 4+4>6 evict B -> [A:3 D:1] 6;  8 A2 HIT (A:4)
    t = make(
        [("A", 2), ("A", 2), ("A", 2), ("B", 2), ("C", 2), ("D", 4), ("B", 2), ("D", 4), ("A", 2)]
    )
    assert hit_indices(t, "lfu", 6) == [1, 2, 8]
    assert simulate(t, "lfu", 6).hit_bytes == 6


# ------------------------------------------------------------------------------------ TTL


def test_ttl_expiry_and_no_refresh_on_hit() -> None:
    # ttl 10 s, capacity 100 (no space pressure)
    # t0  A m, stored at 0
    # t5  A HIT (5 < 0+10); a hit does not refresh the stored time
    # t10 A miss: 10 >= 0+10, expired -> re-stored at 10
    # t15 A HIT (15 < 20)
    # t19.5 B m, stored at 19.5
    # t20 A miss: 20 >= 20 -> re-stored at 20
    # t25 B HIT (25 < 29.5)
    t = make(
        [("A", 1), ("A", 1), ("A", 1), ("A", 1), ("B", 1), ("A", 1), ("B", 1)],
        times=[0, 5, 10, 15, 19.5, 20, 25],
    )
    assert hit_indices(t, "ttl", 100, ttl=10.0) == [1, 3, 6]
    # Without expiry everything after the first request of each object hits.
    assert hit_indices(t, "lru", 100) == [1, 2, 3, 5, 6]


def test_ttl_evicts_lru_for_space_and_expired_entries_hold_space() -> None:
    # capacity 2 (unit sizes), ttl 5
    # t0 A m [A]; t1 B m [A B]
    # t6 C m: cache full; LRU evicts A (already expired, but expiry is lazy) -> [B C]
    # t6 B: stored at 1, 6 >= 1+5 -> expired, miss, re-stored at 6 -> [C B]
    # t7 C HIT (stored at 6)
    t = make([("A", 1), ("B", 1), ("C", 1), ("B", 1), ("C", 1)], times=[0, 1, 6, 6, 7])
    assert hit_indices(t, "ttl", 2, ttl=5.0) == [4]
    # With a long ttl it is plain LRU: B (3) and C (4) hit.
    assert hit_indices(t, "ttl", 2, ttl=1e9) == hit_indices(t, "lru", 2) == [3, 4]


# ------------------------------------------------------------------------------------ prefill


def test_prefill_static_contents_in_manifest_order() -> None:
    # capacity 10; sizes from the first request: A4 B5 C3 D1 E2; X is not in the trace.
    # Fill in order: A 4 (6 left), X skipped (unknown size), B 5 (1 left),
    #                C 3 > 1 skipped, D 1 (0 left)            -> holds A B D
    # Requests: 0 A HIT (held from the start), 1 C miss, 2 B HIT, 3 C miss (never admitted),
    #           4 D HIT, 5 E miss, 6 A HIT                   -> hits 4, hit bytes 4+5+1+4 = 14
    t = make([("A", 4), ("C", 3), ("B", 5), ("C", 3), ("D", 1), ("E", 2), ("A", 4)])
    r = simulate(t, "prefill", 10, manifest=["A", "X", "B", "C", "D"])
    assert hit_indices(t, "prefill", 10, manifest=["A", "X", "B", "C", "D"]) == [0, 2, 4, 6]
    assert (r.hits, r.hit_bytes, r.bytes) == (4, 14, 22)
    assert r.note is not None
    assert "3 of 5" in r.note
    assert "1 did not fit" in r.note
    assert "1 not in the trace" in r.note


def test_prefill_object_larger_than_capacity_not_admitted() -> None:
    # capacity 10: BIG (11) can never be stored; A (3) still is.
    # 0 BIG miss, 1 A HIT, 2 BIG miss, 3 A HIT
    t = make([("BIG", 11), ("A", 3), ("BIG", 11), ("A", 3)])
    assert hit_indices(t, "prefill", 10, manifest=["BIG", "A"]) == [1, 3]


def test_prefill_uses_first_size_and_mapping_sizes() -> None:
    # Z is 3 bytes on its first request, 9 on the second. With plain ids the fill stores the
    # first size (3 <= 5), so both requests hit; hit bytes count each request's size: 3 + 9.
    t = make([("Z", 3), ("Z", 9)])
    r = simulate(t, "prefill", 5, manifest=["Z"])
    assert (r.hits, r.hit_bytes) == (2, 12)
    # With a mapping the given bytes are stored: Q (absent from the trace) takes 4 of the 5
    # bytes, so Z (3) no longer fits and nothing hits.
    r = simulate(t, "prefill", 5, manifest={"Q": 4, "Z": 3})
    assert r.hits == 0
    assert "1 of 2" in r.note


def test_prefill_lru_pins_manifest_and_runs_lru_in_the_rest() -> None:
    # capacity 6, manifest [A] (A is 2 bytes) -> A pinned, LRU gets 4 bytes
    # 0 A2 HIT (pinned)
    # 1 B2 m [B] 2;  2 C2 m [B C] 4;  3 A2 HIT (pinned);  4 B2 HIT [C B]
    # 5 D3 m: 4+3>4 evict C (2), 2+3>4 evict B (0) -> [D] 3
    # 6 C2 m: 3+2>4 evict D -> [C] 2
    # 7 A2 HIT (pinned, never evicted)                     -> hits 0 3 4 7, hit bytes 8
    reqs = [("A", 2), ("B", 2), ("C", 2), ("A", 2), ("B", 2), ("D", 3), ("C", 2), ("A", 2)]
    t = make(reqs)
    assert hit_indices(t, "prefill-lru", 6, manifest=["A"]) == [0, 3, 4, 7]
    assert simulate(t, "prefill-lru", 6, manifest=["A"]).hit_bytes == 8
    # Plain LRU at 6 bytes: A m, B m, C m, A h, B h, D3 evicts C then A, C evicts B, A evicts D
    assert hit_indices(t, "lru", 6) == [3, 4]


def test_prefill_lru_with_nothing_pinned_is_lru() -> None:
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 20, 500)
    t = Trace.from_arrays(np.arange(500.0), ids, rng.integers(1, 6, 500))
    np.testing.assert_array_equal(
        replay(t, "prefill-lru", 25, manifest=["not-there"]), replay(t, "lru", 25)
    )


# ------------------------------------------------------------------------------------ Belady


def test_belady_beats_lru_on_unit_sizes() -> None:
    # unit sizes, capacity 2; cyclic trace A B C A B C A B (idx 0..7)
    # LRU: every request misses (each one evicts the object needed next).
    # Belady, next uses: A0->3 B1->4 C2->5 A3->6 B4->7 C5->never A6->never B7->never
    # 0 A m, 1 B m; 2 C m: evict farthest of A(3) B(4) -> B  [A C]
    # 3 A HIT (next 6); 4 B m: evict farthest of A(6) C(5) -> A [C B]
    # 5 C HIT (next never); 6 A m: evict farthest of C(never) B(7) -> C [B A]; 7 B HIT
    t = make([(o, 1) for o in "ABCABCAB"])
    assert hit_indices(t, "lru", 2) == []
    assert hit_indices(t, "belady", 2) == [3, 5, 7]
    r = simulate(t, "belady", 2)
    assert r.hits == 3
    assert r.note == BELADY_NOTE
    assert "unit sizes only" in r.to_dict()["note"]


def test_belady_variable_sizes() -> None:
    # capacity 6; next uses: 0 A3->3, 1 B3->4, 2 C2->never, 3 A3->5, 4 B3->never, 5 A3->never
    # 0 A m [A] 3; 1 B m [A B] 6
    # 2 C2 m: 6+2>6 evict farthest: B(4) -> [A] 3, 3+2=5 fits [A C]
    # 3 A HIT (next 5); 4 B3 m: 5+3>6 evict farthest: C(never) -> 3+3=6 [A B]; 5 A HIT
    t = make([("A", 3), ("B", 3), ("C", 2), ("A", 3), ("B", 3), ("A", 3)])
    assert hit_indices(t, "belady", 6) == [3, 5]


# ------------------------------------------------------------------------------------ options


def test_policy_option_errors() -> None:
    t = make([("A", 1)])
    with pytest.raises(VodlakeError, match="needs a ttl") as exc:
        simulate(t, "ttl", 10)
    assert exc.value.hint
    with pytest.raises(VodlakeError, match="does not use a ttl"):
        simulate(t, "lru", 10, ttl=5.0)
    with pytest.raises(VodlakeError, match="needs a manifest"):
        simulate(t, "prefill", 10)
    with pytest.raises(VodlakeError, match="does not use a manifest"):
        simulate(t, "lfu", 10, manifest=["A"])
    with pytest.raises(VodlakeError, match="not a path"):
        simulate(t, "prefill", 10, manifest="ids.txt")
    with pytest.raises(VodlakeError, match="unknown cache policy"):
        simulate(t, "arc", 10)
    with pytest.raises(VodlakeError, match="positive"):
        simulate(t, "ttl", 10, ttl=-1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("128MiB", 128 * 1024**2),
        ("1000", 1000),
        (1000, 1000),
        ("10B", 10),
        ("1KB", 1000),
        ("5 MB", 5_000_000),
        ("1.5GiB", 1536 * 1024**2),
        ("2TB", 2 * 10**12),
        ("1tib", 1024**4),
        ("  64KiB ", 65536),
        ("0.5KB", 500),
    ],
)
def test_parse_capacity(text: str | int, expected: int) -> None:
    assert parse_capacity(text) == expected


@pytest.mark.parametrize("bad", ["", "abc", "10XB", "0", "-5", "1.3KiB", "1e9", "12 M", True, 0])
def test_parse_capacity_rejects(bad: object) -> None:
    with pytest.raises(VodlakeError) as exc:
        parse_capacity(bad)  # type: ignore[arg-type]
    assert exc.value.hint and "MiB" in exc.value.hint


# ------------------------------------------------------------------------------------ inputs


def test_read_trace(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("time,object_id,size\n0,ep1/720p/0001,500\n1.5,42,7\n2,ep1/720p/0001,500\n")
    t = read_trace(p)
    assert t.times.dtype == np.float64 and t.ids.dtype == np.int64 and t.sizes.dtype == np.int64
    np.testing.assert_array_equal(t.times, [0.0, 1.5, 2.0])
    np.testing.assert_array_equal(t.ids, [0, 1, 0])
    np.testing.assert_array_equal(t.sizes, [500, 7, 500])
    assert t.labels.tolist() == ["ep1/720p/0001", "42"]
    assert (t.n_requests, t.n_objects, t.total_bytes) == (3, 2, 1007)
    # Manifest ids match labels as text: the int 42 and the string "42" are the same object.
    assert simulate(t, "prefill", 10, manifest=[42]).hits == 1


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("time,object,size\n0,a,1\n", "lacks column"),
        ("time,object_id,size\n0,a,1\n1,b,x\n", "line 3: size 'x' is not a number"),
        ("time,object_id,size\n5,a,1\n1,b,1\n", "line 3 has time 1.0 earlier"),
        ("time,object_id,size\n0,,1\n", "line 2: object_id is empty"),
        ("time,object_id,size\n0,a,0\n", "line 2 has size 0"),
        ("time,object_id,size\n0,a,1.5\n", "line 2 has size"),
        ("time,object_id,size\n", "no requests"),
    ],
)
def test_read_trace_rejects_bad_rows(tmp_path: Path, body: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(VodlakeError, match=match) as exc:
        read_trace(p)
    assert exc.value.hint


def test_read_trace_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VodlakeError, match="not found"):
        read_trace(tmp_path / "nope.csv")


def test_from_arrays_int_ids_and_sort() -> None:
    t = Trace.from_arrays([2.0, 0.0, 1.0], np.array([7, 9, 7]), [3, 1, 3], sort=True)
    np.testing.assert_array_equal(t.times, [0.0, 1.0, 2.0])
    assert t.labels.tolist() == [9, 7]
    np.testing.assert_array_equal(t.ids, [0, 1, 1])
    with pytest.raises(VodlakeError, match="earlier"):
        Trace.from_arrays([2.0, 0.0], [1, 2], [1, 1])
    with pytest.raises(VodlakeError, match="differ in length"):
        Trace.from_arrays([0.0], [1, 2], [1, 1])
    with pytest.raises(VodlakeError, match="no object_id"):
        Trace.from_arrays([0.0, 1.0], ["a", None], [1, 1])


def test_load_manifest_formats(tmp_path: Path) -> None:
    prefill = tmp_path / "m.json"
    prefill.write_text(
        json.dumps(
            {
                "edge_id": "ix-ams-1",
                "add": [{"object_id": "b", "bytes": 10}, {"object_id": 7, "bytes": 3}],
                "keep": ["a", {"object_id": "b"}],
                "drop": [{"object_id": "z", "bytes": 1}],
            }
        )
    )
    assert load_manifest(prefill) == ["b", "7", "a"]  # add then keep, first position wins
    listing = tmp_path / "l.json"
    listing.write_text('["x", 2, "x"]')
    assert load_manifest(listing) == ["x", "2"]
    text = tmp_path / "ids.txt"
    text.write_text("x\n\n  y  \nz\n")
    assert load_manifest(text) == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('{"add": [', "not valid JSON"),
        ('{"edge_id": "e"}', "neither 'add' nor 'keep'"),
        ('{"add": {"a": 1}}', "not a list"),
        ('{"add": [{"bytes": 1}]}', "has no object_id"),
        ("[1.5]", "not an object id"),
    ],
)
def test_load_manifest_rejects(tmp_path: Path, body: str, match: str) -> None:
    p = tmp_path / "m.json"
    p.write_text(body)
    with pytest.raises(VodlakeError, match=match):
        load_manifest(p)


def test_simulate_frame_sorts_and_keeps_keys() -> None:
    reqs = [("A", 4), ("B", 3), ("C", 3), ("A", 4), ("D", 6), ("B", 3), ("A", 4)]
    pdf = pd.DataFrame(
        {
            "edge_id": "e1",
            "time": np.arange(7.0),
            "object_id": [o for o, _ in reqs],
            "size": [s for _, s in reqs],
        }
    ).sample(frac=1.0, random_state=1)  # Spark does not keep row order within a group
    out = simulate_frame(pdf, "lru", [10, "1KB"], keys=["edge_id"])
    assert list(out.columns) == ["edge_id", *RESULT_COLUMNS]
    assert out["edge_id"].tolist() == ["e1", "e1"]
    assert out["capacity"].tolist() == [10, 1000]
    # 10 bytes: as in test_lru_variable_sizes_multiple_evictions. 1000 bytes: everything
    # stays, so the repeats A(3) B(5) A(6) hit -> 3 hits, 4+3+4 = 11 bytes.
    assert out["hits"].tolist() == [1, 3]
    assert out["hit_bytes"].tolist() == [4, 11]


# ------------------------------------------------------------------------------------ CLI


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vodlake cachesim")
    cli.configure(parser)
    return parser.parse_args(argv)


@pytest.fixture
def trace_csv(tmp_path: Path) -> Path:
    reqs = [("A", 4), ("B", 3), ("C", 3), ("A", 4), ("D", 6), ("B", 3), ("A", 4)]
    p = tmp_path / "trace.csv"
    p.write_text(
        "time,object_id,size\n" + "".join(f"{i},{o},{s}\n" for i, (o, s) in enumerate(reqs))
    )
    return p


def test_cli_json(trace_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--trace", str(trace_csv), "--policy", "lru", "--capacity", "10,1KB", "--json"])
    assert cli.run(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    # Same figures as test_simulate_frame_sorts_and_keeps_keys.
    assert rows == [
        {
            "policy": "lru",
            "capacity": 10,
            "requests": 7,
            "hits": 1,
            "hit_ratio": 1 / 7,
            "bytes": 27,
            "hit_bytes": 4,
            "byte_hit_ratio": 4 / 27,
        },
        {
            "policy": "lru",
            "capacity": 1000,
            "requests": 7,
            "hits": 3,
            "hit_ratio": 3 / 7,
            "bytes": 27,
            "hit_bytes": 11,
            "byte_hit_ratio": 11 / 27,
        },
    ]


def test_cli_belady_json_has_note(trace_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.run(
            _parse(["--trace", str(trace_csv), "--policy", "belady", "--capacity", "10", "--json"])
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)
    assert row["note"] == BELADY_NOTE


def test_cli_table(trace_csv: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    manifest = tmp_path / "m.txt"
    manifest.write_text("A\nB\n")
    args = _parse(
        [
            "--trace",
            str(trace_csv),
            "--policy",
            "prefill",
            "--capacity",
            "7,1MiB",
            "--manifest",
            str(manifest),
        ]
    )
    assert cli.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    header, first, second = lines[0], lines[1], lines[2]
    assert header.split() == [
        "policy",
        "capacity",
        "requests",
        "hits",
        "hit_ratio",
        "bytes",
        "hit_bytes",
        "byte_hit_ratio",
    ]
    assert len(header) == len(first) == len(second)  # aligned columns
    # A (4) and B (3) both fit in 7 bytes: A hits at 0 3 6, B at 1 5 -> 5 hits, 18 bytes.
    assert first.split()[:5] == ["prefill", "7", "(7", "B)", "7"]
    assert first.split()[5:] == ["5", "0.7143", "27", "18", "0.6667"]
    assert "1.0 MiB" in second
    assert any(line.startswith("note") and "2 of 2" in line for line in lines[3:])


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--policy", "ttl", "--capacity", "10"], "needs --ttl"),
        (["--policy", "lru", "--capacity", "10", "--ttl", "5"], "only used by policy ttl"),
        (["--policy", "prefill", "--capacity", "10"], "needs --manifest"),
        (["--policy", "lru", "--capacity", "10", "--manifest", "m.txt"], "only used by policies"),
        (["--policy", "lru", "--capacity", "10,,20"], "empty entry"),
        (["--policy", "lru", "--capacity", "10QB"], "unknown unit"),
    ],
)
def test_cli_errors(trace_csv: Path, extra: list[str], match: str) -> None:
    with pytest.raises(VodlakeError, match=match) as exc:
        cli.run(_parse(["--trace", str(trace_csv), *extra]))
    assert exc.value.hint


# ------------------------------------------------------------------------------------ cross-check
# Tiny reference caches in plain Python, written for clarity rather than speed.


def ref_queue(rows, capacity: int, promote: bool, ttl: float | None = None) -> list[bool]:
    """LRU (promote=True) / FIFO (False) / TTL (ttl set) with libCacheSim's rules."""
    cache: OrderedDict[str, tuple[int, float]] = OrderedDict()  # id -> (stored size, stored at)
    used = 0
    out = []
    for t, o, s in rows:
        if o in cache and ttl is not None and t >= cache[o][1] + ttl:
            used -= cache.pop(o)[0]
        if o in cache:
            out.append(True)
            if promote:
                cache.move_to_end(o)
            continue
        out.append(False)
        if s > capacity:
            continue
        while used + s > capacity:
            _, (size, _) = cache.popitem(last=False)
            used -= size
        cache[o] = (s, t)
        used += s
    return out


def ref_lfu(rows, capacity: int) -> list[bool]:
    cache: dict[str, list[int]] = {}  # id -> [stored size, count, last request index]
    used = 0
    out = []
    for i, (_, o, s) in enumerate(rows):
        if o in cache:
            out.append(True)
            cache[o][1] += 1
            cache[o][2] = i
            continue
        out.append(False)
        if s > capacity:
            continue
        while used + s > capacity:
            victim = min(cache, key=lambda k: (cache[k][1], cache[k][2]))
            used -= cache.pop(victim)[0]
        cache[o] = [s, 1, i]
        used += s
    return out


def ref_belady(rows, capacity: int) -> list[bool]:
    positions: dict[str, list[int]] = {}
    first_seen: dict[str, int] = {}
    for i, (_, o, _) in enumerate(rows):
        positions.setdefault(o, []).append(i)
        first_seen.setdefault(o, len(first_seen))
    n = len(rows)

    def next_after(o: str, i: int) -> int:
        p = positions[o]
        k = bisect.bisect_right(p, i)
        return p[k] if k < len(p) else n

    cache: dict[str, int] = {}
    used = 0
    out = []
    for i, (_, o, s) in enumerate(rows):
        if o in cache:
            out.append(True)
            continue
        out.append(False)
        if s > capacity:
            continue
        while used + s > capacity:
            # farthest next use; among never-again objects the one first seen earliest
            victim = max(cache, key=lambda k: (next_after(k, i), -first_seen[k]))
            used -= cache.pop(victim)
        cache[o] = s
        used += s
    return out


def random_rows(seed: int, n: int = 3000, n_obj: int = 40):
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_obj + 1) ** 0.9
    objs = rng.choice(n_obj, size=n, p=weights / weights.sum())
    base_size = rng.integers(1, 30, n_obj)
    sizes = base_size[objs].copy()
    changed = rng.random(n) < 0.05  # some objects come back with another size
    sizes[changed] = rng.integers(1, 30, changed.sum())
    times = np.cumsum(rng.exponential(1.0, n))
    return [(float(t), f"obj{o}", int(s)) for t, o, s in zip(times, objs, sizes, strict=True)]


TTL = 3.0  # seconds; requests arrive about 1 s apart, so entries do expire at every capacity


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("capacity", [25, 60, 200])
def test_cross_check_against_reference(seed: int, capacity: int) -> None:
    rows = random_rows(seed)
    t = Trace.from_arrays(*zip(*rows, strict=True))
    engine = {
        "lru": replay(t, "lru", capacity),
        "fifo": replay(t, "fifo", capacity),
        "ttl": replay(t, "ttl", capacity, ttl=TTL),
        "lfu": replay(t, "lfu", capacity),
        "belady": replay(t, "belady", capacity),
    }
    reference = {
        "lru": ref_queue(rows, capacity, promote=True),
        "fifo": ref_queue(rows, capacity, promote=False),
        "ttl": ref_queue(rows, capacity, promote=True, ttl=TTL),
        "lfu": ref_lfu(rows, capacity),
        "belady": ref_belady(rows, capacity),
    }
    for policy, expected in reference.items():
        assert engine[policy].tolist() == expected, policy
        hit_bytes = sum(s for (_, _, s), h in zip(rows, expected, strict=True) if h)
        assert (
            simulate(t, policy, capacity, **({"ttl": TTL} if policy == "ttl" else {})).hit_bytes
            == hit_bytes
        )
    # The policies really differ on this trace (so agreement above is not trivial).
    assert len({tuple(v) for v in reference.values()}) == len(reference)


def test_belady_is_at_least_as_good_as_lru_with_unit_sizes() -> None:
    rows = [(t, o, 1) for t, o, _ in random_rows(5, n=2000)]
    t = Trace.from_arrays(*zip(*rows, strict=True))
    for capacity in (2, 5, 10, 20):
        best = simulate(t, "belady", capacity).hits
        assert best >= simulate(t, "lru", capacity).hits
        assert best >= simulate(t, "lfu", capacity).hits
        assert best >= simulate(t, "fifo", capacity).hits
