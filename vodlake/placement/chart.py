"""The evaluation's chart: byte hit ratio against capacity, and per edge at the configured size.

Only the prefill, its bound and the warm baselines are drawn: a cold cache is not a fair
comparison for a fill made the night before.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from vodlake.placement import replay

_STYLE = {
    replay.PREFILL: ("tab:red", "-", "o"),
    replay.HYBRID: ("tab:orange", "-", "s"),
    replay.CLAIRVOYANT: ("black", "--", "D"),
    replay.CEILING: ("tab:gray", ":", ""),
    replay.LRU_WARM: ("tab:blue", "-", "^"),
    replay.BELADY_WARM: ("tab:purple", "-", "v"),
}
_BARS = (replay.PREFILL, replay.CLAIRVOYANT, replay.LRU_WARM, replay.BELADY_WARM)


def figure(ev: Any) -> Any:
    """``ev``: an Evaluation (rows per edge and ALL, replay.ROW_COLUMNS) with a test_day."""
    import matplotlib

    if not matplotlib.get_backend().lower().startswith(("agg", "module://")):
        matplotlib.use("Agg")  # no display on a cluster node or in a job
    import matplotlib.pyplot as plt

    rows = ev.rows
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    total = rows[(rows["edge_id"] == "ALL") & (rows["capacity_label"] != replay.CONFIGURED)]
    for policy in replay.POLICIES:
        part = total[total["policy"] == policy].sort_values("capacity_fraction")
        if part.empty:
            continue
        color, line, marker = _STYLE[policy]
        left.plot(
            100 * part["capacity_fraction"],
            part["byte_hit_ratio"],
            color=color,
            linestyle=line,
            marker=marker or None,
            label=replay.LABELS[policy],
        )
    left.set_xscale("log")
    fracs = sorted(total["capacity_fraction"].unique())
    left.set_xticks([100 * f for f in fracs], [f"{100 * f:g}%" for f in fracs])
    left.set_xlabel("edge capacity (% of the edge's test-day working set)")
    left.set_ylabel("byte hit ratio")
    left.set_ylim(0, 1)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8, loc="upper left")
    left.set_title(f"All edges, test day {ev.test_day}")

    per_edge = rows[(rows["edge_id"] != "ALL") & (rows["capacity_label"] == replay.CONFIGURED)]
    edges = sorted(per_edge["edge_id"].unique())
    width = 0.8 / len(_BARS)
    for i, policy in enumerate(_BARS):
        part = per_edge[per_edge["policy"] == policy].set_index("edge_id")
        values = [float(part["byte_hit_ratio"].get(e, np.nan)) for e in edges]
        right.bar(
            np.arange(len(edges)) + (i - (len(_BARS) - 1) / 2) * width,
            values,
            width,
            color=_STYLE[policy][0],
            label=replay.LABELS[policy],
        )
    right.set_xticks(np.arange(len(edges)), edges, rotation=20, fontsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("byte hit ratio")
    right.grid(True, axis="y", alpha=0.3)
    right.legend(fontsize=8, ncol=2)
    right.set_title("Per edge at its configured capacity_bytes")
    fig.tight_layout()
    return fig


def png(ev: Any) -> bytes:
    """`figure` as PNG bytes."""
    import matplotlib.pyplot as plt

    fig = figure(ev)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
