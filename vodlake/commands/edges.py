"""`vodlake edges up|down|status|config|fill|ship-logs`: the nginx edges inside each ISP."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vodlake.delivery import edges
from vodlake.runtime import add_set_option, config_from


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("up", "start every edge (or --edge E ...); idempotent"),
        ("down", "stop the edges, leaving no nginx process"),
        ("status", "address, health, bytes held and capacity per edge (exit 1 if one is down)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--edge", action="append", dest="edges", metavar="E", help="edge id")
        if name == "status":
            p.add_argument("--json", action="store_true", help="one JSON object per edge")
        add_set_option(p, "edges.port=9080")
    p = sub.add_parser("config", help="print an edge's nginx config for a real host")
    p.add_argument("--edge", required=True, metavar="E", help="edge id")
    p.add_argument("--listen", default="80", help="nginx listen value (default 80)")
    p.add_argument(
        "--root", default=None, help="state folder on that host (default /var/lib/vodlake/edges/E)"
    )
    p.add_argument("--user", default="www-data", help="worker user (default www-data)")
    add_set_option(p, "edges.origin_url=http://origin.example/vodlake-origin")
    p = sub.add_parser("fill", help="apply the prefill manifests of a date to the edges")
    p.add_argument("--date", required=True, help="manifest date (YYYY-MM-DD)")
    p.add_argument("--edge", action="append", dest="edges", metavar="E", help="edge id")
    p.add_argument("--master", default=None, help="Spark master (reads the segments table)")
    p.add_argument(
        "--apply-only",
        action="store_true",
        help="no Spark: apply the fill plans an earlier run wrote (records nothing to Delta)",
    )
    add_set_option(p, "edges.fill_rate_bytes_s=50000000")
    p = sub.add_parser("ship-logs", help="ship the edges' request logs to Kafka (edge-logs)")
    p.add_argument("--edge", action="append", dest="edges", metavar="E", help="edge id")
    p.add_argument("--once", action="store_true", help="ship what is there, then stop")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    add_set_option(p, "kafka.topics.edge_logs=edge-logs-test")


def _gb(n: int) -> str:
    return f"{n / 1e9:.3f} GB"


def run(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    if args.action == "config":
        _, edge = edges.find_edge(cfg, args.edge)
        root = Path(args.root or f"/var/lib/vodlake/edges/{edge.id}")
        host, port = edges.edge_address(cfg, edge.id)
        lay = edges.EdgeLayout(edge, root, host, port)
        print(edges.render(cfg, lay, listen=args.listen, user=args.user or None, held=0), end="")
        return 0
    if args.action == "fill":
        from vodlake.delivery import fill

        return fill.run_args(args, cfg)
    if args.action == "ship-logs":
        from vodlake.delivery import logs

        return logs.run_shipper(cfg, args.edges, once=args.once, interval=args.interval)
    if args.action == "up":
        print(f"starting edges (state in {edges.state_dir(cfg)}) ...", flush=True)
        started = edges.up(cfg, args.edges)
        print(f"started: {', '.join(started) or 'none (already running)'}")
    elif args.action == "down":
        stopped = edges.down(cfg, args.edges)
        print(f"stopped: {', '.join(stopped) or 'none (not running)'}")
        return 0
    statuses = edges.all_status(cfg, args.edges)
    if getattr(args, "json", False):
        for s in statuses:
            print(json.dumps({**s.__dict__, "running": s.running}))
    else:
        for s in statuses:
            state = "healthy" if s.healthy else ("UNHEALTHY" if s.running else "down")
            print(
                f"{s.edge_id:<16} {s.address:<22} {state:<9} prefill {_gb(s.prefill_bytes)}"
                f"  cache {_gb(s.cache_bytes)}  capacity {_gb(s.capacity_bytes)}"
                f"  {f'pid {s.pid}' if s.pid else ''}"
            )
    return 0 if all(s.healthy for s in statuses) else 1
