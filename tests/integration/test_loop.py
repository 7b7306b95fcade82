"""The closed loop (`vodlake loop`) small, in its own namespace under the test home: day 1 cold
edges, the nightly chain on day 1's real telemetry, the fill on the prefill ISP's edges, day 2.

Measured from the edge logs (X-Cache of every segment request): the day-2 byte hit ratio of the
prefill arm beats the pull-through arm, and on each prefill edge it is within 2 points of the
cache simulator's prediction for the same request sequence. The simulator replays the edge as
nginx runs it (misses stored at once, the cache trimmed to max_size only when nginx's cache
manager wakes, sizes in whole blocks; see vodlake.delivery.loop.simulate_edge): an LRU that
evicts before every admission predicted 30-45 points too few hits on these small caches.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_loop_day2_prefill_arm_beats_pull_through_and_matches_simulator(
    live_services, spark, tmp_path
) -> None:
    from vodlake.config import load_config
    from vodlake.delivery import loop

    # the origin on the object store (edges fill and pull over HTTP), under a prefix of its own
    paths = {"home": str(tmp_path), "origin": f"s3a://{{bucket}}/tloop{tmp_path}"}
    cfg = load_config("test", overrides={"paths": paths})

    size = loop.LoopSize(days=2, clients=4, minutes=0.3, titles=6, speed=8.0, capacity_share=0.12)
    result = loop.run(spark, cfg, size, run_no=1, log=print)
    print(loop.render(result))
    assert all(d["failed_sessions"] == 0 for d in result["players"]), result["players"]
    day2 = result["arms_total"]
    prefill, pull = day2[(2, "prefill")], day2[(2, "pull")]
    assert prefill["bytes"] > 0 and pull["bytes"] > 0
    assert prefill["byte_hit_ratio"] > pull["byte_hit_ratio"], day2
    checked = [r for r in result["edges"] if r["day"] == 2 and r["arm"] == "prefill" and r["bytes"]]
    assert checked, result["edges"]
    for r in checked:
        gap = r["byte_hit_ratio"] - r["sim_byte_hit_ratio"]
        assert abs(gap) <= 0.02, f"{r['edge_id']}: measured - predicted = {100 * gap:+.1f} pt"
