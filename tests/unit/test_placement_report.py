"""The evaluation's steps that need no Spark: the per-edge replay group, the chart and the page."""

from __future__ import annotations

from datetime import date

import pandas as pd

from vodlake.placement import chart, replay, report
from vodlake.placement.evaluation import Evaluation, manifest_prefix, replay_group


def _group() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [(0.0, "A", 10, False), (1.0, "C", 5, False)]
    rows += [
        (100.0 + i, o, s, True)
        for i, (o, s) in enumerate(
            [("A", 10), ("B", 20), ("A", 10), ("C", 5), ("D", 10), ("A", 10), ("C", 5)]
        )
    ]
    trace = pd.DataFrame(rows, columns=["time", "object_id", "size", "is_test"]).assign(
        edge_id="e1"
    )
    ranking = pd.DataFrame(
        {"object_id": ["D", "C", "A"], "bytes": [10, 5, 10], "score": [3.0, 2.0, 1.0]}
    )
    return trace, ranking


def _evaluation() -> Evaluation:
    trace, ranking = _group()
    per_edge = replay_group(trace, ranking, fractions=(0.2, 0.5), configured={"e1": 15})
    rows = pd.concat([per_edge, replay.totals(per_edge)], ignore_index=True)
    return Evaluation(date(2026, 11, 5), date(2026, 11, 1), date(2026, 11, 4), rows)


def test_replay_group_cuts_the_ranking_per_capacity() -> None:
    ev = _evaluation()
    rows = ev.rows[ev.rows["edge_id"] == "e1"]
    assert set(rows["capacity_label"]) == {"20% of working set", "50% of working set", "configured"}
    # working set 45 B: 20% = 9 B holds nothing of the ranking (D is 10 B), 50% = 22 B holds
    # D then C (15 B; A would pass 22), configured 15 B holds D and C too.
    prefill = rows[rows["policy"] == "prefill"].set_index("capacity_label")
    assert prefill.loc["20% of working set", "manifest_objects"] == 0
    assert prefill.loc["50% of working set", "manifest_bytes"] == 15
    assert prefill.loc["configured", "hit_bytes"] == 20  # D 10 + C twice 5
    assert manifest_prefix(_group()[1], 25) == {"D": 10, "C": 5, "A": 10}
    head = ev.headline()
    assert head["prefill"] == 20 / 70 and head["clairvoyant_static"] == 40 / 70
    assert head["prefill_fraction_of_bound"] == 0.5


def test_page_and_chart_show_bound_and_warm_baselines_only() -> None:
    ev = _evaluation()
    page = report.html(ev, "hit_ratio.png")
    assert "50.0%</b> of the clairvoyant static" in page
    assert "warm LRU" in page and "hit_ratio.png" in page and "2026-11-05" in page
    for cold in ("LRU (cold)", "Belady (cold)", "of Belady", "FIFO", "LFU"):
        assert cold not in page
    png = chart.png(ev)
    assert png.startswith(b"\x89PNG") and len(png) > 5_000


def test_page_escapes_what_it_shows() -> None:
    ev = _evaluation()
    ev.rows.loc[ev.rows["edge_id"] == "e1", "edge_id"] = "<script>e1</script>"
    page = report.html(ev, 'x"><img src=y>')
    assert "<script>e1" not in page and "&lt;script&gt;e1" in page
    assert 'x"><img' not in page
