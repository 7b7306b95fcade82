"""The closed loop (`vodlake loop`) small, in its own namespace under the test home: day 1 cold
edges, the nightly chain on day 1's real telemetry, the fill on the prefill ISP's edges, day 2.

The catalog is 2 real transcodes and 58 SYNTHETIC titles shaped like them (random bytes of the
real segment sizes; sample_catalog.build_synthetic), so it has a long tail larger than an edge.
Storage-fair A/B: every edge holds the same bytes (a prefill store stops at capacity less the
cache's floor, its cache gets the rest; a pull-through edge's cache gets all of it).

Measured from the edge logs (X-Cache of every segment request): on each prefill edge the day-2
byte hit ratio is within 2 points of the cache simulator's prediction for the same request
sequence. The simulator replays the edge as nginx runs it (misses stored at once, the cache
trimmed to max_size only when nginx's cache manager wakes, sizes in whole blocks; see
vodlake.delivery.loop.simulate_edge).

Day 2's prefill arm vs pull-through arm is printed, not asserted. One run compares two ISPs'
different demand, and this test's day (8 players x 18 s, to fit the suite's budget) is too
small to rank a head: before the site-split placement a fair setup went either way (+4.1 and
-5.8 points). At the loop's default size (12 players x 30 s) prefill won with either ISP
prefilling (+7.4 and +1.8 points, every edge better prefilled; README, closed loop). A test
that passes by the luck of a tiny workload is no test.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_loop_storage_fair_arms_and_prefill_edges_match_simulator(
    live_services, spark, tmp_path
) -> None:
    from vodlake.config import load_config
    from vodlake.delivery import edges, loop

    # the origin on the object store (edges fill and pull over HTTP), under a prefix of its own
    paths = {"home": str(tmp_path), "origin": f"s3a://{{bucket}}/tloop{tmp_path}"}
    cfg = load_config("test", overrides={"paths": paths})

    size = loop.LoopSize(
        days=2, clients=8, minutes=0.3, titles=2, synthetic=58, speed=8.0, capacity_share=0.06
    )
    result = loop.run(spark, cfg, size, run_no=1, log=print)
    print(loop.render(result))
    assert result["catalog"] == {"real": 2, "synthetic": 58, "bytes": result["catalog"]["bytes"]}
    assert all(d["failed_sessions"] == 0 for d in result["players"]), result["players"]
    # storage-fair: the capacity is well above the cache floor, and no store passes its room
    room = result["prefill_room_bytes"]
    assert room == result["capacity_bytes"] - edges.MIN_CACHE_BYTES >= 3 * edges.MIN_CACHE_BYTES
    held = result["prefill_held"][1]
    assert held and all(0 < b <= room for b in held.values()), held
    day2 = result["arms_total"]
    prefill, pull = day2[(2, "prefill")], day2[(2, "pull")]
    assert prefill["bytes"] > 0 and pull["bytes"] > 0
    checked = [r for r in result["edges"] if r["day"] == 2 and r["arm"] == "prefill" and r["bytes"]]
    assert checked, result["edges"]
    for r in checked:
        gap = r["byte_hit_ratio"] - r["sim_byte_hit_ratio"]
        assert abs(gap) <= 0.02, f"{r['edge_id']}: measured - predicted = {100 * gap:+.1f} pt"
