"""`vodlake placement evaluate`: judge the nightly prefill on any request log, without Spark.

The CLI parses and prints; the work is `vodlake.placement.offline.evaluate_requests`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from vodlake.errors import VodlakeError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Evaluate the nightly prefill on a request log: train the forecast on the first K days, "
        "place, replay day K+1 per edge against the clairvoyant static fill (the bound), the "
        "compulsory-miss ceiling and LRU / Belady warmed on the day before. No Spark needed."
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ev = sub.add_parser("evaluate", help="evaluate the prefill on a CSV or Parquet request log")
    ev.add_argument(
        "--trace",
        required=True,
        metavar="FILE",
        help="CSV or Parquet: time (seconds),object_id,size[,edge]; day = floor(time / 86400)",
    )
    ev.add_argument("--train-days", type=int, required=True, metavar="K", help="days to train on")
    ev.add_argument(
        "--test-days",
        type=int,
        default=1,
        metavar="N",
        help="evaluate days K+1..K+N, each placed from the day before's placement (default 1)",
    )
    ev.add_argument(
        "--capacity",
        required=True,
        metavar="C[,C2,...]",
        help="per edge: a share of its test-day working set (5%%), a size (2GB, 512MiB), or "
        "'configured' (the edge's capacity_bytes in the config)",
    )
    ev.add_argument(
        "--fill-budget",
        type=float,
        default=None,
        metavar="SHARE",
        help="bytes a night may newly fill, as a share of the capacity (default: unlimited)",
    )
    ev.add_argument("--json", action="store_true", help="one JSON object per edge and capacity")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from vodlake.placement import offline

    out = out if out is not None else sys.stdout
    parts = [p.strip() for p in args.capacity.split(",")]
    configured = None
    if "configured" in parts:
        from vodlake.config import load_config

        cfg = load_config(args.env)
        configured = {e.id: e.capacity_bytes for e in cfg.topology.edges}
        parts.remove("configured")
    specs = offline.parse_capacity_list(",".join(parts)) if parts else []
    if not specs and not configured:
        raise VodlakeError("no capacity to evaluate", hint="e.g. --capacity 5%,20%,2GB")
    if args.fill_budget is not None and not args.fill_budget > 0:
        raise VodlakeError(f"--fill-budget must be positive (got {args.fill_budget})")
    requests = offline.read_requests(args.trace)
    if configured is not None:
        unknown = sorted(set(requests["edge_id"]) - set(configured))
        if unknown:
            raise VodlakeError(
                f"'configured' capacity: edge(s) {', '.join(unknown[:5])} are not in the config",
                hint="use shares of the working set (5%) or sizes (2GB) for this trace",
            )
    ev = offline.evaluate_requests(
        requests,
        train_days=args.train_days,
        test_days=args.test_days,
        capacities=specs,
        configured=configured,
        fill_budget=args.fill_budget,
    )
    if args.json:
        for record in ev.records():
            out.write(json.dumps(record) + "\n")
    else:
        out.write(offline.format_table(ev))
    return 0
