"""Edge placement and prefill manifests of one date."""

from __future__ import annotations

import sys

from vodlake.errors import run_entrypoint
from vodlake.placement.forecast import add_date_argument
from vodlake.placement.manifests import run
from vodlake.runtime import config_from, job_parser, spark_from


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Edge placement and prefill manifests of one date (replaces that date).",
        "vodlake job placement",
    )
    add_date_argument(parser, "the date whose popularity to place (YYYY-MM-DD or yesterday)")
    args = parser.parse_args(argv)
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-placement")
    run(spark, cfg, args.date)
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
