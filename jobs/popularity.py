"""Gold popularity of one date from silver playback."""

from __future__ import annotations

import sys

from vodlake.errors import run_entrypoint
from vodlake.placement.forecast import add_date_argument, run
from vodlake.runtime import config_from, job_parser, spark_from


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Gold popularity of one date (replaces that date).", "vodlake job popularity"
    )
    add_date_argument(parser, "the date to compute (YYYY-MM-DD, today or yesterday)")
    args = parser.parse_args(argv)
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-popularity")
    run(spark, cfg, args.date)
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
