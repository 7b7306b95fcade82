"""`vodlake services up|down|status|fetch`: the local Kafka, Elasticsearch (one node or N) and
S3 object store."""

from __future__ import annotations

import argparse
import dataclasses
import json

from vodlake import services
from vodlake.config import load
from vodlake.services.common import ServiceStatus

# what a node "leads": Kafka partitions, Elasticsearch primary shards
_LEADS = {"kafka": "partition leaders", "elasticsearch": "primary shards"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status", "fetch"])
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *services.SERVICE_NAMES],
        help="kafka, elasticsearch and/or objectstore (default all)",
    )
    parser.add_argument("--json", action="store_true", help="status as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = load(args.env)
    names = tuple(args.names) or services.SERVICE_NAMES
    if args.action == "fetch":
        fetched = services.fetch(cfg, names)
        print(f"fetched: {', '.join(fetched) or 'nothing new'} (cache {cfg.services.cache_dir})")
        return 0
    if args.action == "up":
        print(f"starting {', '.join(names)} (state in {cfg.services.state_dir}) ...", flush=True)
        started = services.up(cfg, names)
        print(f"started: {', '.join(started) or 'none (already running)'}")
    elif args.action == "down":
        stopped = services.down(cfg, names)
        print(f"stopped: {', '.join(stopped) or 'none (not running)'}")
    statuses = services.status(cfg, names)
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in statuses]))
    else:
        for s in statuses:
            print(format_status(s))
    if args.action == "status" and not args.json and not args.names:
        # steering runs on its own (`vodlake steering start`): listed here, not required
        from vodlake.services.steering import SteeringService

        st = SteeringService(cfg).status()
        print(f"{st.name:<14} {st.address:<24} {st.detail}")
    if args.action == "status":
        return 0 if all(s.healthy for s in statuses) else 1
    if args.action == "up":
        return 0 if all(s.healthy for s in statuses) else 1
    return 0


def format_status(s: ServiceStatus) -> str:
    """One line for the service (with its cluster health), then one per node."""
    pid = f"pid {s.pid}" if s.pid and len(s.nodes) <= 1 else ""
    health = f"[{s.health}]" if s.health else ""
    lines = [f"{s.name:<14} {health:<8} {s.detail:<44} {pid}".rstrip()]
    if len(s.nodes) <= 1:
        lines[0] = f"{s.name:<14} {health:<8} {s.address:<24} {s.detail:<34} {pid}".rstrip()
    if s.nodes and (len(s.nodes) > 1 or s.nodes[0].role):
        leads = _LEADS.get(s.name, "leaders")
        for n in s.nodes:
            state = f"pid {n.pid}" if n.running else "down"
            role = n.role or "-"
            lines.append(
                f"  {n.name:<12} {n.address:<24} {state:<10} {role:<10} {n.leaders} {leads}"
            )
    return "\n".join(lines)
