"""The evaluation's HTML page, rendered from a Jinja2 template (autoescaped, no string pasting)."""

from __future__ import annotations

from typing import Any

import jinja2

from vodlake.placement import replay

_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Placement evaluation {{ day }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>
<h1>Edge placement evaluation, test day {{ day }}</h1>
<p>Forecast trained on {{ train_start }} .. {{ train_end }}; each edge's requests of {{ day }}
replayed through the cache simulator. Capacities are shares of each edge's own test-day working
set (its distinct bytes) and its configured capacity. The prefill is judged against the
clairvoyant static fill (the best set of files for the day, chosen knowing the day: the bound
for any fill made the night before) and against LRU and Belady (with bypass) warmed on the day
before. The compulsory-miss ceiling (1 - distinct / requested bytes) bounds a cache that starts
the day without the day's objects; a prefilled or warmed cache may pass it.</p>
{% if headline %}
<p>All edges at their configured capacities: prefill {{ "%.3f"|format(headline.prefill) }} is
<b>{{ "%.1f"|format(100 * headline.prefill_fraction_of_bound) }}%</b> of the clairvoyant static
fill ({{ "%.3f"|format(headline.clairvoyant_static) }}) and
<b>{{ "%+.1f"|format(headline.points_over_lru_warm) }} points</b> over warm LRU
({{ "%.3f"|format(headline.lru_warm) }}); warm Belady {{ "%.3f"|format(headline.belady_warm) }}.
</p>
{% endif %}
<img src="{{ chart }}" alt="byte hit ratio against capacity" width="100%">
<h2>Byte hit ratio, all edges</h2>
<table><tr><th>policy</th>{% for c in capacities %}<th>{{ c }}</th>{% endfor %}</tr>
{% for p in policies %}<tr><th>{{ p.label }}</th>
{% for v in p.cells %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>Per edge at its configured capacity</h2>
<table><tr><th>edge</th><th>capacity</th><th>working set</th>
{% for h in edge_head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for e in edges %}<tr><th>{{ e.edge }}</th><td>{{ e.capacity }}</td><td>{{ e.working_set }}</td>
{% for v in e.cells %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table>
</body></html>
"""
_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    return "" if value is None or value != value else pattern.format(value)


def html(ev: Any, chart_name: str) -> str:
    """The page for an Evaluation (``ev.rows``: replay.ROW_COLUMNS, edge ALL included)."""
    rows = ev.rows
    total = rows[rows["edge_id"] == "ALL"]
    capacities = list(dict.fromkeys(total["capacity_label"]))
    policies = []
    for policy in replay.POLICIES:
        part = total[total["policy"] == policy].set_index("capacity_label")["byte_hit_ratio"]
        if not part.empty:
            values = [_fmt(part.get(c)) for c in capacities]
            policies.append({"label": replay.LABELS[policy], "cells": values})
    verdicts = replay.verdicts(rows)
    shown = [p for p in replay.POLICIES if p in verdicts.columns]
    extra = [c for c in ("prefill_fraction_of_bound", "points_over_lru_warm") if c in verdicts]
    sizes = rows[rows["policy"] == replay.CEILING].set_index(["edge_id", "capacity_label"])
    edges = []
    for rec in verdicts[verdicts["capacity_label"] == replay.CONFIGURED].to_dict("records"):
        size = sizes.loc[(rec["edge_id"], rec["capacity_label"])]
        values = [_fmt(rec[p]) for p in shown]
        values += [_fmt(rec.get("prefill_fraction_of_bound"), "{:.1%}")]
        values += [_fmt(rec.get("points_over_lru_warm"), "{:+.1f}")]
        edges.append(
            {
                "edge": rec["edge_id"],
                "capacity": f"{int(size['capacity_bytes']):,} B",
                "working_set": f"{int(size['working_set_bytes']):,} B",
                "cells": values,
            }
        )
    headline = None
    if (total["capacity_label"] == replay.CONFIGURED).any():
        headline = ev.headline()
    return _ENV.from_string(_TEMPLATE).render(
        day=ev.test_day,
        train_start=ev.train_start,
        train_end=ev.train_end,
        headline=headline,
        chart=chart_name,
        capacities=capacities,
        policies=policies,
        edge_head=[*shown, *(["of bound", "pts over warm LRU"] if extra else [])],
        edges=edges,
    )
