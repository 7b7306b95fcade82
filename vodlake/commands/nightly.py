"""`vodlake nightly --date D`: the nightly chain silver -> popularity -> placement -> evaluation.

The CLI only parses; the work is `vodlake.jobs.nightly`, the same code `spark-submit
jobs/nightly.py` runs, so a scheduler can call either.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from vodlake.jobs.nightly import add_arguments

    parser.description = (
        "Run the nightly chain for one day: check silver, gold popularity, placement and "
        "prefill manifests, then evaluate yesterday's forecast on that day. Each step replaces "
        "only that day's output, so a rerun is safe."
    )
    parser.add_argument("--master", default=None, help="Spark master, e.g. spark://host:7077")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set paths.home=/data/vodlake (repeatable)",
    )
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from vodlake.jobs.nightly import run_args

    return run_args(args)
