"""Rebuild the search index from the whole catalog and swap the alias atomically."""

from __future__ import annotations

import sys

from vodlake.errors import run_entrypoint
from vodlake.runtime import config_from, job_parser, spark_from
from vodlake.search.reindex import reindex


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Rebuild the video search index from the whole catalog and swap the alias atomically.",
        "vodlake job search_reindex",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="wait this long after the swap before deleting the old index (default 1)",
    )
    args = parser.parse_args(argv)
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-search-reindex")
    result = reindex(spark, cfg, grace_s=args.grace)
    removed = ", ".join(result.removed) or "none"
    print(
        f"reindexed videos version {result.version}: {result.documents} documents in "
        f"{result.index}; {result.alias} now points there; removed: {removed} "
        f"({result.seconds:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
