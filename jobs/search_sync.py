"""Sync the videos catalog to Elasticsearch from the Delta Change Data Feed."""

from __future__ import annotations

import sys
from typing import Any

from vodlake.errors import run_entrypoint
from vodlake.runtime import config_from, job_parser, spark_from
from vodlake.search.sync import sync_search


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "Sync the videos catalog to Elasticsearch from the Delta Change Data Feed.",
        "vodlake job search_sync",
    )
    parser.add_argument(
        "--from-version",
        type=int,
        default=None,
        metavar="N",
        help="replay the change feed from table version N (default: the saved version + 1)",
    )
    args = parser.parse_args(argv)
    cfg = config_from(args)
    spark = spark_from(args, cfg, "vodlake-search-sync")

    def progress(stage: str, info: dict[str, Any]) -> None:
        if stage in ("upsert", "delete"):
            print(f"{stage}: {info['documents']} documents -> {info['alias']}", flush=True)

    result = sync_search(spark, cfg, from_version=args.from_version, progress=progress)
    if result.mode == "up-to-date":
        print(f"{result.alias} is up to date at videos version {result.to_version}")
    else:
        source = (
            "a snapshot"
            if result.from_version is None
            else f"versions {result.from_version}..{result.to_version}"
        )
        print(
            f"synced {source} of videos at version {result.to_version} into "
            f"{result.alias} ({result.index}): {result.upserted} upserted, "
            f"{result.deleted} deleted in {result.seconds:.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
