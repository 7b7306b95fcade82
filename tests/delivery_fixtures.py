"""A small real catalog for the delivery tests: a few generated clips, uploaded and transcoded.

Titles are real transcodes (H.264 fMP4 HLS/DASH on the test config's origin) so players and
edges move real segments; the clips are short and low resolution to keep the tests fast.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

from vodlake.delivery.sample_catalog import LADDER, TRANSCODE, build_catalog

__all__ = ["LADDER", "TRANSCODE", "build_catalog", "free_port", "prefill_title", "world_config"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def topology() -> dict[str, Any]:
    """Two comcast edges and a verizon edge in us-east, and the two ISPs' client prefixes."""
    edge = {"region": "us-east", "capacity_bytes": 500_000_000}
    return {
        "regions": ["us-east"],
        "isps": ["comcast", "verizon"],
        "edges": [
            {**edge, "id": "use-comcast-1", "isp": "comcast"},
            {**edge, "id": "use-comcast-2", "isp": "comcast"},
            {**edge, "id": "use-verizon-1", "isp": "verizon"},
        ],
        "populations": [
            {"region": "us-east", "isp": "comcast", "clients": 1000, "prefixes": ["127.10.0.0/16"]},
            {"region": "us-east", "isp": "verizon", "clients": 1000, "prefixes": ["127.11.0.0/16"]},
        ],
    }


def world_config(home: Path) -> Any:
    """A test config in its own namespace: topics, lake, origin prefix, index prefix, edge
    addresses 127.0.13.N on a free port, steering on a free port with a 1 s health interval."""
    from vodlake.config import load_config

    tag = uuid.uuid4().hex[:8]
    return load_config(
        "test",
        overrides={
            # the origin on the object store, so edges fill and pull over plain HTTP
            "paths": {"home": str(home), "origin": f"s3a://{{bucket}}/t13{home}"},
            "kafka": {"topics": {"uploads": f"uploads-{tag}", "playback": f"playback-{tag}"}},
            "transcode": TRANSCODE,
            "topology": topology(),
            "edges": {"address_prefix": "127.0.13", "port": free_port(),
                      "state_dir": str(home / "edges")},
            "steering": {"port": free_port(), "health_interval_s": 1.0, "health_timeout_s": 0.5},
            "players": {"speed": 4.0, "stall_timeout_s": 2.0, "request_timeout_s": 8.0,
                        "steer_timeout_s": 3.0},
            "elasticsearch": {"index_prefix": f"t13-{tag}"},
        },
    )  # fmt: skip


def prefill_title(spark: Any, cfg: Any, edge_id: str, video_id: str) -> dict[str, Any]:
    """Put every file of one title into an edge's prefill store with the real fill agent.

    The plan is what the nightly fill would build for a manifest naming all of the title's
    segments: playlists and init segments first, then each segment with its size and sha256.
    """
    from datetime import date

    from pyspark.sql import functions as F

    from vodlake.delivery import edges, fill, fill_plan
    from vodlake.lake.tables import Tables

    meta = fill_plan._meta_files(spark, cfg, {video_id})[video_id]
    segs = (
        Tables(cfg)
        .read(spark, "segments")
        .where(F.col("video_id") == video_id)
        .orderBy("rendition", "chunk_idx")
        .collect()
    )
    want = list(meta)
    for r in segs:
        oid = f"{video_id}/{r['rendition']}/{r['chunk_idx']}"
        path = fill_plan.origin_path(cfg, r["uri"])
        want.append(fill.FillFile(path, video_id, oid, int(r["bytes"]), r["sha256"]))
    _, edge = edges.find_edge(cfg, edge_id)
    plan = fill.EdgePlan(
        edge_id, date.today().isoformat(), edge.fill_budget_bytes, edge.capacity_bytes, want
    )
    return fill.apply_plan(cfg, plan, log=lambda _: None)
