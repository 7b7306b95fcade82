"""`vodlake cachesim`: replay a request trace through one cache policy at one or more capacities.

The CLI only parses and prints; the work is `vodlake.cachesim.simulate`. Errors are raised as
VodlakeError for vodlake/cli.py to print as `error:` plus `hint:`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from vodlake.errors import VodlakeError
from vodlake.placement.simulator import (
    POLICIES,
    POLICY_HELP,
    SimResult,
    load_manifest,
    parse_capacity,
    read_trace,
    simulate,
)

_COLUMNS = (
    ("policy", "<"),
    ("capacity", ">"),
    ("requests", ">"),
    ("hits", ">"),
    ("hit_ratio", ">"),
    ("bytes", ">"),
    ("hit_bytes", ">"),
    ("byte_hit_ratio", ">"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the cachesim options to ``parser`` (a subcommand parser of `vodlake`)."""
    policies = "; ".join(f"{name}: {text}" for name, text in POLICY_HELP.items())
    parser.description = (
        "Replay a CSV trace (header time,object_id,size) through a cache policy, with "
        "libCacheSim semantics: capacity in bytes, evict until the object fits, objects larger "
        "than the cache are misses and not admitted."
    )
    parser.add_argument("--trace", required=True, metavar="FILE", help="CSV: time,object_id,size")
    parser.add_argument(
        "--policy", required=True, choices=POLICIES, metavar="P", help=f"one of: {policies}"
    )
    parser.add_argument(
        "--capacity",
        required=True,
        metavar="C[,C2,...]",
        help="cache size(s) in bytes or with a unit: 500MB, 128MiB, 1.5GiB, 2TB (comma-separated)",
    )
    parser.add_argument(
        "--ttl", type=float, metavar="SECONDS", help="entry lifetime (policy ttl only)"
    )
    parser.add_argument(
        "--manifest",
        metavar="FILE",
        help="prefill manifest JSON ({add, keep, ...}), JSON list of ids, or one id per line "
        "(policies prefill and prefill-lru only)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per capacity, one per line"
    )


def parse_capacities(text: str) -> list[int]:
    """``"128MiB,1GiB"`` -> byte counts, in the order given."""
    parts = [part.strip() for part in text.split(",")]
    if not parts or any(part == "" for part in parts):
        raise VodlakeError(
            f"capacity list {text!r} has an empty entry", hint="e.g. --capacity 128MiB,1GiB"
        )
    return [parse_capacity(part) for part in parts]


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the simulation for every capacity and print the results; returns the exit code."""
    out = out if out is not None else sys.stdout
    capacities = parse_capacities(args.capacity)
    # Option checks happen before the (possibly large) trace is read.
    if args.policy == "ttl" and args.ttl is None:
        raise VodlakeError("policy ttl needs --ttl", hint="e.g. --ttl 3600")
    if args.policy != "ttl" and args.ttl is not None:
        raise VodlakeError(
            f"--ttl is only used by policy ttl, not {args.policy}", hint="drop --ttl"
        )
    prefill = args.policy in ("prefill", "prefill-lru")
    if prefill and args.manifest is None:
        raise VodlakeError(
            f"policy {args.policy} needs --manifest",
            hint="a prefill manifest JSON, a JSON list of ids, or one id per line",
        )
    if not prefill and args.manifest is not None:
        raise VodlakeError(
            f"--manifest is only used by policies prefill and prefill-lru, not {args.policy}",
            hint="drop --manifest",
        )
    manifest = load_manifest(args.manifest) if prefill else None
    trace = read_trace(args.trace)
    results = [
        simulate(trace, args.policy, cap, ttl=args.ttl, manifest=manifest) for cap in capacities
    ]
    if args.json:
        for result in results:
            out.write(json.dumps(result.to_dict()) + "\n")
    else:
        out.write(format_table(results))
    return 0


def format_table(results: list[SimResult]) -> str:
    """Aligned text table, then each distinct note once."""
    rows = [[name for name, _ in _COLUMNS]]
    for r in results:
        rows.append(
            [
                r.policy,
                f"{r.capacity} ({human_bytes(r.capacity)})",
                str(r.requests),
                str(r.hits),
                f"{r.hit_ratio:.4f}",
                str(r.bytes),
                str(r.hit_bytes),
                f"{r.byte_hit_ratio:.4f}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            f"{cell:{align}{w}}" for cell, (_, align), w in zip(row, _COLUMNS, widths, strict=True)
        )
        for row in rows
    ]
    notes = list(dict.fromkeys(r.note for r in results if r.note))
    if len(notes) == 1:
        lines.append(f"note: {notes[0]}")
    else:  # notes that differ by capacity (prefill fills) are labelled with it
        lines.extend(f"note ({human_bytes(r.capacity)}): {r.note}" for r in results if r.note)
    return "\n".join(lines) + "\n"


def human_bytes(n: int) -> str:
    """1024-based size for reading a table (the exact byte count is printed next to it)."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    units = ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value /= 1024
        units.pop(0)
    return f"{value:.1f} {units[0]}"


__all__ = ["configure", "format_table", "human_bytes", "parse_capacities", "run"]
