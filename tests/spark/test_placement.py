"""Placement on hand-made candidates: knapsack order, early chunks, fill budget, swap margin.

Every expected add/keep/drop below is worked out in the comments from the ranking rule
(score = forecast x early weight; incumbents rank at score x (1 + min_swap_gain)).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pyspark.testing import assertDataFrameEqual

from vodlake.config import EdgeConf
from vodlake.delivery.steering import hrw
from vodlake.placement.simulator import load_manifest
from vodlake.transforms.placement import (
    PLAN_COLUMNS,
    candidates,
    plan_placement,
    split_over_sites,
    summarize_plan,
)

KEYS = "edge_id string, video_id string, rendition string, chunk_idx int"
CAND = f"{KEYS}, file_bytes long, forecast double"
EDGES = "edge_id string, capacity_bytes long, fill_budget_bytes long"
HELD = "edge_id string, video_id string, rendition string, chunk_idx int, bytes long"
OUT = (
    "edge_id string, object_id string, video_id string, rendition string, chunk_idx int, "
    "bytes long, forecast double, score double, action string, reason string"
)


def _plan(spark, cands, edges, held=None, **params):
    opts = {"early_chunk_weight": 1.0, "early_chunks": 0, "min_swap_gain": 0.0, **params}
    previous = spark.createDataFrame(held, HELD) if held is not None else None
    return plan_placement(
        spark.createDataFrame(cands, CAND), spark.createDataFrame(edges, EDGES), previous, **opts
    )


def _row(edge, video, chunk, size, forecast, score, action, reason):
    return (edge, f"{video}/r/{chunk}", video, "r", chunk, size, forecast, score, action, reason)


# a: early chunk 0 (40 B, 1.0/day), b: 30 B 1.5/day, c: 50 B 1.2/day, d: 20 B 0.5/day
KNAPSACK = [
    ("e1", "v", "r", 0, 40, 1.0),
    ("e1", "v", "r", 1, 30, 1.5),
    ("e1", "v", "r", 2, 50, 1.2),
    ("e1", "w", "r", 1, 20, 0.5),
]


def test_greedy_by_density_within_capacity(spark) -> None:
    # ranking b 1.5, c 1.2, a 1.0, d 0.5; running bytes 30, 80, 120 > 100: a and all after it
    # (d too, although 20 B would still fit: a prefix of the ranking, at most one file wasted)
    got = _plan(spark, KNAPSACK, [("e1", 100, 10_000)])
    expected = [
        _row("e1", "v", 1, 30, 1.5, 1.5, "add", "new: forecast 1.500 reads/day"),
        _row("e1", "v", 2, 50, 1.2, 1.2, "add", "new: forecast 1.200 reads/day"),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, OUT))
    assert got.columns == ["edge_id", *PLAN_COLUMNS]


def test_early_chunks_weigh_more(spark) -> None:
    # weight 2 for chunk_idx < 1: a scores 2.0 and leads; running bytes a 40, b 70, c 120 > 100
    got = _plan(spark, KNAPSACK, [("e1", 100, 10_000)], early_chunk_weight=2.0, early_chunks=1)
    expected = [
        _row("e1", "v", 0, 40, 1.0, 2.0, "add", "new: forecast 1.000 reads/day, early chunk x2"),
        _row("e1", "v", 1, 30, 1.5, 1.5, "add", "new: forecast 1.500 reads/day"),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, OUT))


def test_fill_budget_limits_new_files_but_not_kept_ones(spark) -> None:
    # new a 40 B 3.0, new b 30 B 2.5; held y 20 B 2.0 (ranks 2.2), held x 30 B 0.2 (ranks 0.22)
    # fill: a 40 <= 50 ok, b 70 > 50 refused; held files cost no fill.
    # capacity over what may come: a 40, y 60, x 90 <= 100: add a, keep y and x.
    cands = [
        ("e1", "a", "r", 5, 40, 3.0),
        ("e1", "b", "r", 5, 30, 2.5),
        ("e1", "y", "r", 5, 20, 2.0),
        ("e1", "x", "r", 5, 30, 0.2),
    ]
    held = [("e1", "y", "r", 5, 20), ("e1", "x", "r", 5, 30)]
    got = _plan(spark, cands, [("e1", 100, 50)], held, min_swap_gain=0.1)
    kept = "reads/day, still ranks within capacity"
    expected = [
        _row("e1", "a", 5, 40, 3.0, 3.0, "add", "new: forecast 3.000 reads/day"),
        _row("e1", "y", 5, 20, 2.0, 2.0, "keep", f"kept: forecast 2.000 {kept}"),
        _row("e1", "x", 5, 30, 0.2, 0.2, "keep", f"kept: forecast 0.200 {kept}"),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, OUT))


def test_small_gains_do_not_swap_and_big_ones_do(spark) -> None:
    # both edges hold p (50 B, 1.0/day, ranks 1.1 with a 10% margin) and have room for one file.
    # e1: q (1.05) does not beat 1.1: p stays, q is left out (a swap would gain 5% < 10%).
    # e2: r (1.2) beats 1.1: r comes in, p is dropped.
    cands = [
        ("e1", "p", "r", 3, 50, 1.0),
        ("e1", "q", "r", 3, 50, 1.05),
        ("e2", "p", "r", 3, 50, 1.0),
        ("e2", "r", "r", 3, 50, 1.2),
    ]
    held = [("e1", "p", "r", 3, 50), ("e2", "p", "r", 3, 50)]
    edges = [("e1", 50, 1000), ("e2", 50, 1000)]
    got = _plan(spark, cands, edges, held, min_swap_gain=0.1)
    expected = [
        _row(
            "e1",
            "p",
            3,
            50,
            1.0,
            1.0,
            "keep",
            "kept: forecast 1.000 reads/day; a swap would gain less than 10%",
        ),
        _row("e2", "r", 3, 50, 1.2, 1.2, "add", "new: forecast 1.200 reads/day"),
        _row(
            "e2",
            "p",
            3,
            50,
            1.0,
            1.0,
            "drop",
            "dropped: forecast 1.000 reads/day, displaced by denser files",
        ),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, OUT))


def test_held_files_without_demand_are_dropped(spark) -> None:
    cands = [("e1", "a", "r", 1, 10, 1.0)]
    held = [("e1", "gone", "r", 7, 25)]
    got = _plan(spark, cands, [("e1", 100, 100)], held)
    expected = [
        _row("e1", "a", 1, 10, 1.0, 1.0, "add", "new: forecast 1.000 reads/day"),
        _row("e1", "gone", 7, 25, 0.0, 0.0, "drop", "dropped: no forecast demand"),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, OUT))
    summary = summarize_plan(got).first().asDict()
    assert summary == {
        "edge_id": "e1",
        "add_files": 1,
        "add_bytes": 10,
        "keep_files": 0,
        "keep_bytes": 0,
        "drop_files": 1,
        "drop_bytes": 25,
        "held_bytes": 10,
    }


def test_extra_keys_plan_the_same_edge_independently(spark) -> None:
    # one edge at two capacities: 30 B holds b only, 80 B holds b and c
    edges = spark.createDataFrame(
        [("e1", 30, 1000, 0.3), ("e1", 80, 1000, 0.8)], f"{EDGES}, size double"
    )
    got = plan_placement(
        spark.createDataFrame(KNAPSACK, CAND),
        edges,
        None,
        early_chunk_weight=1.0,
        early_chunks=0,
        min_swap_gain=0.0,
        keys=("edge_id", "size"),
    )
    held = sorted((r["size"], r["object_id"]) for r in got.collect())
    assert held == [(0.3, "v/r/1"), (0.8, "v/r/1"), (0.8, "v/r/2")]


def test_candidates_sum_forecasts_and_drop_files_without_demand(spark) -> None:
    gold = spark.createDataFrame(
        [
            ("e1", "v", "r", 0, 100, 0.5),
            ("e1", "v", "r", 0, 100, 0.25),
            ("e1", "v", "r", 1, 80, 0.0),
        ],
        CAND,
    )
    expected = spark.createDataFrame(
        [("e1", "v", "r", 0, 0.75, 100)],
        f"{KEYS}, forecast double, file_bytes long",
    )
    assertDataFrameEqual(candidates(gold), expected)


def test_a_site_plans_each_title_on_the_edge_steering_sends_it_to(spark) -> None:
    # Site "a" has two edges; each of its titles goes, with the site's summed demand, to the
    # edge whose rendezvous weight (steering's own hrw, computed in Python) is the greatest.
    # Site "b" has one edge: its rows are unchanged.
    edges = spark.createDataFrame(
        [("a-1", "a"), ("a-2", "a"), ("b-1", "b")], "edge_id string, isp string"
    )
    cands = [
        ("a-1", "t1", "r", 0, 100, 3.0),
        ("a-2", "t1", "r", 0, 100, 1.0),
        ("a-2", "t2", "r", 0, 50, 2.0),
        ("a-1", "t3", "r", 1, 70, 0.5),
        ("b-1", "t1", "r", 0, 100, 4.0),
    ]
    owner = {t: max(("a-1", "a-2"), key=lambda e: hrw(t, e)) for t in ("t1", "t2", "t3")}
    expected = [
        (owner["t1"], "t1", "r", 0, 100, 4.0),
        (owner["t2"], "t2", "r", 0, 50, 2.0),
        (owner["t3"], "t3", "r", 1, 70, 0.5),
        ("b-1", "t1", "r", 0, 100, 4.0),
    ]
    got = split_over_sites(spark.createDataFrame(cands, CAND), edges)
    assertDataFrameEqual(got, spark.createDataFrame(expected, CAND))


def test_bad_parameters_are_refused(spark) -> None:
    with pytest.raises(ValueError, match="edge_id"):
        _plan(spark, KNAPSACK, [("e1", 1, 1)], keys=("size",))
    with pytest.raises(ValueError, match="early_chunk_weight"):
        _plan(spark, KNAPSACK, [("e1", 1, 1)], early_chunk_weight=0.5)


def test_manifest_document_round_trips_through_the_simulator(tmp_path: Path) -> None:
    from pyspark.sql import Row

    from vodlake.placement.manifests import manifest_bytes, manifest_document

    edge = EdgeConf(id="e1", region="r", isp="i", capacity_bytes=100, fill_window_hours=1)
    rows = [
        Row(object_id="v/r/1", bytes=30, score=1.5, action="add", reason="new"),
        Row(object_id="v/r/0", bytes=40, score=2.0, action="add", reason="new"),
        Row(object_id="w/r/0", bytes=10, score=1.0, action="keep", reason="kept"),
        Row(object_id="x/r/0", bytes=25, score=0.0, action="drop", reason="dropped"),
    ]
    doc = manifest_document(edge, date(2026, 11, 5), rows)
    assert (doc["add_bytes"], doc["keep_bytes"], doc["drop_bytes"], doc["held_bytes"]) == (
        70,
        10,
        25,
        80,
    )
    assert doc["fill_for"] == "2026-11-06"
    path = tmp_path / "e1.json"
    path.write_bytes(manifest_bytes(doc))
    # add in rank order, then keep; drops leave the edge
    assert load_manifest(path) == ["v/r/0", "v/r/1", "w/r/0"]
    # the same rows in another order give the same bytes
    assert (
        manifest_bytes(manifest_document(edge, date(2026, 11, 5), rows[::-1])) == path.read_bytes()
    )
    assert json.loads(path.read_text())["drop"][0]["object_id"] == "x/r/0"


def test_manifest_prefix_is_the_smaller_placement(spark) -> None:
    """The evaluation cuts one ranking per capacity: it must equal planning at that capacity."""
    from vodlake.placement.evaluation import manifest_prefix

    big = _plan(spark, KNAPSACK, [("e1", 1000, 1000)]).toPandas()
    for capacity in (30, 80, 100, 140):
        small = _plan(spark, KNAPSACK, [("e1", capacity, 1000)]).collect()
        assert list(manifest_prefix(big, capacity)) == [
            r["object_id"] for r in sorted(small, key=lambda r: (-r["score"], r["object_id"]))
        ]
    assert manifest_prefix(pd.DataFrame(columns=["object_id", "bytes", "score"]), 10) == {}
