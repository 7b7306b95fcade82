"""Replay a test day per edge: the nightly prefill against the baselines and bounds."""

from __future__ import annotations

import sys

from vodlake.errors import run_entrypoint
from vodlake.placement.evaluation import add_arguments, run
from vodlake.placement.forecast import add_date_argument
from vodlake.runtime import config_from, job_parser, spark_from


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Replay a test day per edge: the prefill against its bound and warm LRU / Belady.",
        "vodlake job evaluate_placement",
    )
    add_date_argument(parser, "the test day (trained on the days before it)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-evaluate-placement")
    run(
        spark,
        cfg,
        args.date,
        train_days=args.train_days,
        fractions=args.fractions,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
