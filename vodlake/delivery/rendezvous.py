"""Rendezvous (highest-random-weight) hashing of a title over a site's edges.

One definition for everything that must agree on which edge of a site serves a title: steering
(ranks a site's edges), the telemetry generator (sends a simulated session where steering
would) and, computed with Spark built-ins, the nightly placement
(transforms.placement.rendezvous_weight).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def hrw(video_id: str, edge_id: str) -> int:
    """Rendezvous hash weight: the edge with the highest weight for a title comes first.

    SHA-256 of "video|edge" because Spark has it built in, so the placement can compute the
    same weights without a Python UDF.
    """
    return int(hashlib.sha256(f"{video_id}|{edge_id}".encode()).hexdigest(), 16)


def owner(video_id: str, edge_ids: Iterable[str]) -> str:
    """The edge of a site that a title's requests go to when no edge holds it."""
    return max(edge_ids, key=lambda e: hrw(video_id, e))
