"""The nightly chain for one date: silver -> popularity -> placement -> manifests -> evaluation."""

from __future__ import annotations

import sys

from vodlake.errors import run_entrypoint
from vodlake.placement.nightly import add_arguments, run_args
from vodlake.runtime import job_parser


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(__doc__.splitlines()[0], "vodlake nightly")
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
