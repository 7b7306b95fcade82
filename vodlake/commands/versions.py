"""`vodlake versions`: the pinned version matrix and the matching spark-submit flags."""

from __future__ import annotations

import argparse

from vodlake import versions


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spark-submit-args", action="store_true", help="print only the --packages flags"
    )


def run(args: argparse.Namespace) -> int:
    flags = (
        f"--packages {versions.spark_packages_arg()} "
        f"--exclude-packages {versions.spark_excludes_arg()}"
    )
    if args.spark_submit_args:
        print(flags)
        return 0
    for name, version in versions.matrix():
        print(f"{name:<48} {version}")
    print(f"\nspark-submit {flags}")
    return 0
