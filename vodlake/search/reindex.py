"""Full reindex: the whole ready catalog into a new versioned index, then an atomic alias swap.

Run one reindex at a time: it removes versioned indices that the alias does not point at.

Searches go through the alias, so they keep hitting the old index while the new one loads
(refresh off, then on), and move to the new one in the same `_aliases` call that detaches the
old. The old index is deleted only after a short grace period, so a search that resolved the
alias just before the swap still finds its shards. The saved sync version becomes the snapshot
version: changes committed while the reindex ran are replayed by the next incremental sync
(harmless, every write is by id).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.search.index import (
    alias_name,
    client,
    create_video_index,
    es_errors,
    finish_bulk_load,
    new_index_name,
    stale_versioned_indices,
    swap_alias,
)
from vodlake.search.state import (
    current_popularity,
    latest_version,
    read_state,
    require_videos,
    save_state,
    table_id,
)
from vodlake.search.writes import sync_failure, write_documents
from vodlake.transforms.search_docs import popularity_per_video, to_documents

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Reindexed:
    """What a reindex did: the new index behind the alias and the catalog version it holds."""

    alias: str
    index: str
    version: int
    documents: int
    removed: list[str]
    seconds: float


def reindex(
    spark: SparkSession,
    cfg: Config,
    *,
    gold_popularity: DataFrame | None = None,
    grace_s: float = 1.0,
    progress: Progress | None = None,
) -> Reindexed:
    """Rebuild the index from the latest catalog snapshot and swap the alias to it."""
    started = time.monotonic()
    say = progress or (lambda stage, info: None)
    path = require_videos(spark, cfg)
    version = latest_version(spark, path)
    tid = table_id(spark, path)
    alias = alias_name(cfg)
    ready = (
        spark.read.format("delta")
        .option("versionAsOf", version)
        .load(path)
        .where(F.col("status") == "ready")
    )
    popularity = (
        popularity_per_video(gold_popularity)
        if gold_popularity is not None
        else current_popularity(spark, cfg)
    )
    docs = to_documents(ready, popularity).persist()
    es = client(cfg)
    new = new_index_name(cfg)
    what = f"search reindex of videos version {version} into {new}"
    state = read_state(spark, cfg)
    again = f"run `vodlake job search_reindex` again ({alias} still points at the old index)"
    try:
        expected = docs.count()
        with (
            sync_failure(cfg, what, state.table_version if state else None, again),
            es_errors(cfg, "building the new video index"),
        ):
            create_video_index(es, new, bulk=True)
            try:
                say("load", {"index": new, "documents": expected})
                write_documents(spark, cfg, docs, new, operation="index")
                finish_bulk_load(es, new)
                loaded = es.count(index=new)["count"]
                if loaded != expected:
                    raise VodlakeError(
                        f"{new} holds {loaded} documents, the catalog has {expected} ready videos",
                        hint="the alias was left on the old index; run the reindex again",
                    )
            except BaseException:
                # best effort (the node may be the thing that failed); a leftover index is
                # removed by the next reindex as a stale versioned index
                with contextlib.suppress(Exception):
                    es.options(ignore_status=404).indices.delete(index=new)
                raise
            say("swap", {"alias": alias, "index": new})
            old = swap_alias(es, cfg, new)
    finally:
        docs.unpersist()
    save_state(spark, cfg, version, new, expected, 0, tid)
    if old and grace_s > 0:
        time.sleep(grace_s)
    with es_errors(cfg, "removing old video indices"):
        removed = sorted(set(old) | set(stale_versioned_indices(es, cfg)))
        for name in removed:
            es.options(ignore_status=404).indices.delete(index=name)
    return Reindexed(alias, new, version, expected, removed, round(time.monotonic() - started, 3))
