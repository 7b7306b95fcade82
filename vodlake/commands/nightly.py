"""`vodlake nightly --date D`: the nightly chain silver -> popularity -> placement -> evaluation.

The CLI only parses; the work is `vodlake.placement.nightly`, the same code `spark-submit
jobs/nightly.py` runs, so a scheduler can call either.
"""

from __future__ import annotations

import argparse

from vodlake.runtime import add_common_options


def configure(parser: argparse.ArgumentParser) -> None:
    from vodlake.placement.nightly import add_arguments

    parser.description = (
        "Run the nightly chain for one day: check silver, gold popularity, placement and "
        "prefill manifests, then evaluate yesterday's forecast on that day. Each step replaces "
        "only that day's output, so a rerun is safe."
    )
    add_common_options(parser, env=False)
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from vodlake.placement.nightly import run_args

    return run_args(args)
