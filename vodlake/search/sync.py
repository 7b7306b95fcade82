"""Incremental search sync: the `videos` Change Data Feed -> Elasticsearch, resumable by version.

The last table version whose changes reached the index is kept in the Delta table `sync_state`
(one row per alias). A sync reads the feed from that version + 1 to the latest version, upserts
ready videos through elasticsearch-hadoop (keyed by video_id), deletes the documents of videos
that were deleted or are no longer ready, and only then saves the new version. A failure at any
point leaves the saved version where it was, and replaying a range is harmless (upserts by id,
deletes by id), so running again from the same version gives the same index.

`sync_search(spark, cfg)` is what the upload stream calls from its foreachBatch;
`spark-submit jobs/search_sync.py` / `vodlake job search_sync` run it once.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake import schemas
from vodlake.config import Config
from vodlake.errors import ServiceUnavailable, VodlakeError
from vodlake.lake.tables import Tables
from vodlake.search.index import (
    alias_indices,
    alias_name,
    client,
    ensure_video_alias,
    es_errors,
    video_write_options,
)
from vodlake.transforms.search_docs import (
    popularity_per_video,
    snapshot_as_changes,
    split_actions,
    sync_actions,
    to_documents,
)

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class SyncState:
    sync_name: str
    table_version: int
    index: str
    documents: int
    deleted: int
    synced_at: datetime
    table_id: str | None = None


# --- state ----------------------------------------------------------------------------------
def read_state(spark: SparkSession, cfg: Config) -> SyncState | None:
    """The saved sync position for this config's alias (None before the first sync)."""
    tables = Tables(cfg)
    if not tables.exists(spark, "sync_state"):
        return None
    row = tables.read(spark, "sync_state").where(F.col("sync_name") == alias_name(cfg)).first()
    return SyncState(**row.asDict()) if row else None


def save_state(
    spark: SparkSession,
    cfg: Config,
    version: int,
    index: str,
    documents: int,
    deleted: int,
    table_id: str | None,
) -> None:
    """Record that the index holds the catalog up to `version` (MERGE: one row per alias)."""
    from delta.tables import DeltaTable

    tables = Tables(cfg)
    path = tables.ensure(spark, "sync_state")
    now = datetime.now(timezone.utc)
    row = (alias_name(cfg), version, index, documents, deleted, now, table_id)
    source = spark.createDataFrame([row], schemas.SYNC_STATE)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(source.alias("s"), "t.sync_name = s.sync_name")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


# --- catalog --------------------------------------------------------------------------------
def latest_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def table_id(spark: SparkSession, path: str) -> str:
    """The Delta table's id: it changes when the table is dropped and created again."""
    from delta.tables import DeltaTable

    return str(DeltaTable.forPath(spark, path).detail().select("id").first()[0])


def read_changes(spark: SparkSession, path: str, start: int, end: int) -> DataFrame:
    """The Change Data Feed of `path` for versions start..end (both included)."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start)
        .option("endingVersion", end)
        .load(path)
    )


def current_popularity(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """Per-video popularity from the gold table, or None while analytics has not run."""
    tables = Tables(cfg)
    if not tables.exists(spark, "gold_popularity"):
        return None
    return popularity_per_video(tables.read(spark, "gold_popularity"))


def require_videos(spark: SparkSession, cfg: Config) -> str:
    tables = Tables(cfg)
    if not tables.exists(spark, "videos"):
        raise VodlakeError(
            f"the videos catalog does not exist yet ({tables.path('videos')})",
            hint="upload a video first (`vodlake stream uploads`), then sync",
        )
    return tables.path("videos")


# --- Elasticsearch writes -------------------------------------------------------------------
_QUIET_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.TaskContextImpl",
    "org.apache.spark.util.Utils",
    "org.elasticsearch.hadoop",
    "org.apache.commons.httpclient",
)


@contextlib.contextmanager
def quiet_task_logs(spark: SparkSession) -> Iterator[None]:
    """Silence per-task stack traces while writing to Elasticsearch (local mode prints them on
    the driver's terminal); the failure still surfaces as one VodlakeError. VODLAKE_DEBUG=1
    keeps them."""
    if os.environ.get("VODLAKE_DEBUG"):
        yield
        return
    jvm = spark.sparkContext._jvm
    log4j = jvm.org.apache.logging.log4j
    configurator = log4j.core.config.Configurator
    before = {name: log4j.LogManager.getLogger(name).getLevel() for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        configurator.setLevel(name, log4j.Level.OFF)
    try:
        yield
    finally:
        for name, level in before.items():
            configurator.setLevel(name, level)


_UNREACHABLE_MARKERS = (
    "EsHadoopNoNodesLeftException",
    "Connection refused",
    "Connection error",
    "all nodes failed",
    "Cannot detect ES version",
    "NoRouteToHost",
)


def es_hadoop_failure(exc: BaseException) -> tuple[str, str] | None:
    """("unreachable" | "rejected", detail) when a Spark failure came from es-hadoop, else None."""
    text = str(exc)
    if "org.elasticsearch.hadoop" not in text and "EsHadoop" not in text:
        return None
    if any(marker in text for marker in _UNREACHABLE_MARKERS):
        return "unreachable", ""
    for line in text.splitlines():
        if "EsHadoopRemoteException:" in line:
            return "rejected", line.split("EsHadoopRemoteException:", 1)[1].strip()[:300]
    for line in text.splitlines():
        if "EsHadoop" in line:
            return "rejected", line.strip()[:300]
    return "rejected", text.strip().splitlines()[0][:300]


def write_documents(
    spark: SparkSession, cfg: Config, docs: DataFrame, target: str, operation: str = "upsert"
) -> None:
    """Write documents keyed by video_id through elasticsearch-hadoop (upsert by default; a
    full reindex into a fresh index uses `index`, which skips the per-document lookup)."""
    opts = video_write_options(cfg, operation=operation)
    with quiet_task_logs(spark):
        docs.write.format("es").options(**opts).mode("append").save(target)


def delete_documents(spark: SparkSession, cfg: Config, ids: DataFrame, target: str) -> None:
    """Delete documents by video_id through elasticsearch-hadoop (`es.write.operation=delete`;
    a missing document is not an error, so a replayed delete is harmless)."""
    opts = video_write_options(cfg, operation="delete")
    with quiet_task_logs(spark):
        ids.select("video_id").write.format("es").options(**opts).mode("append").save(target)


@contextlib.contextmanager
def sync_failure(
    cfg: Config, what: str, saved: int | None, again: str | None = None
) -> Iterator[None]:
    """Any Elasticsearch failure inside becomes one VodlakeError that says where the sync stands."""
    kept = (
        f"the saved version stays at {saved}" if saved is not None else "no version was saved yet"
    )
    if again is None:
        again = (
            f"run the sync again: it resumes from version {saved + 1}"
            if saved is not None
            else "run the sync again: it starts from a catalog snapshot"
        )
    try:
        yield
    except ServiceUnavailable:
        raise VodlakeError(
            f"{what} stopped: Elasticsearch at {cfg.elasticsearch.url} is unreachable; {kept}",
            hint=f"start Elasticsearch (`vodlake services up`), then {again}",
        ) from None
    except VodlakeError:
        raise
    except Exception as exc:
        failure = es_hadoop_failure(exc)
        if failure is None:
            raise
        kind, detail = failure
        if kind == "unreachable":
            raise VodlakeError(
                f"{what} stopped: Elasticsearch at {cfg.elasticsearch.url} is unreachable; {kept}",
                hint=f"start Elasticsearch (`vodlake services up`), then {again}",
            ) from None
        raise VodlakeError(
            f"{what} stopped: Elasticsearch rejected documents ({detail}); {kept}",
            hint="fix the cause, then `vodlake job search_reindex` rebuilds the index",
        ) from None


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (Spark wraps long messages; drop JVM frames)."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith("at ") and ln != "JVM stacktrace:"]
    text = " ".join(kept)
    return f"{type(exc).__name__}: {text[:limit]}"


# --- the sync -------------------------------------------------------------------------------
def sync_search(
    spark: SparkSession,
    cfg: Config,
    *,
    from_version: int | None = None,
    gold_popularity: DataFrame | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Bring the index up to the latest `videos` version; returns what it did.

    Reads the feed from the saved version + 1 (or `from_version`; a snapshot when nothing was
    saved or the index had to be created), writes upserts then deletes, refreshes, and only then
    saves the version. `gold_popularity` overrides the gold table (e.g. a batch's own figures).
    """
    started = time.monotonic()
    say = progress or (lambda stage, info: None)
    if from_version is not None and from_version < 0:
        raise VodlakeError(f"--from-version must be 0 or more, got {from_version}")
    path = require_videos(spark, cfg)
    alias = alias_name(cfg)
    state = read_state(spark, cfg)
    saved = state.table_version if state else None
    end = latest_version(spark, path)
    tid = table_id(spark, path)
    recreated = state is not None and (
        (saved is not None and saved > end) or (state.table_id or tid) != tid
    )
    if recreated and from_version is None:
        # The saved version belongs to a table that no longer exists: its feed cannot say what
        # disappeared, so rebuild the index from the catalog (the reindex saves a fresh state).
        from vodlake.search.reindex import reindex

        say("reindex", {"reason": "the videos table was recreated", "saved": saved})
        done = reindex(spark, cfg, gold_popularity=gold_popularity, progress=progress)
        return {
            "alias": alias,
            "index": done["index"],
            "from_version": None,
            "to_version": done["version"],
            "mode": "reindex",
            "upserted": done["documents"],
            "deleted": 0,
            "seconds": round(time.monotonic() - started, 3),
        }
    es = client(cfg)
    what = "search sync"
    with sync_failure(cfg, what, saved), es_errors(cfg, "preparing the video index"):
        index, created = ensure_video_alias(es, cfg)
    if from_version is not None:
        start: int | None = from_version
    elif saved is None or created:
        start = None  # nothing saved, or the index is new: start from a snapshot
    else:
        start = saved + 1
    result: dict[str, Any] = {
        "alias": alias,
        "index": index,
        "from_version": start,
        "to_version": end,
        "mode": "snapshot" if start is None else "changes",
        "upserted": 0,
        "deleted": 0,
    }
    if start is not None and start > end:
        result.update(mode="up-to-date", seconds=round(time.monotonic() - started, 3))
        return result
    what = (
        f"search sync of videos versions {start}..{end}"
        if start is not None
        else f"search sync of the videos snapshot at version {end}"
    )
    actions: DataFrame | None = None
    try:
        try:
            if start is None:
                snapshot = spark.read.format("delta").option("versionAsOf", end).load(path)
                changes = snapshot_as_changes(snapshot, end)
            else:
                changes = read_changes(spark, path, start, end)
            actions = sync_actions(changes).persist()
            counts = {r["action"]: r["count"] for r in actions.groupBy("action").count().collect()}
        except Exception as exc:
            raise VodlakeError(
                f"{what} cannot read the catalog: {_one_line(exc)}",
                hint="the change feed may be vacuumed or off for those versions: "
                "`vodlake job search_reindex` rebuilds from the catalog",
            ) from None
        n_up, n_del = counts.get("upsert", 0), counts.get("delete", 0)
        result.update(upserted=n_up, deleted=n_del)
        say("plan", dict(result))
        upserts, deletes = split_actions(actions)
        with sync_failure(cfg, what, saved), es_errors(cfg, "writing the video index"):
            if n_up:
                popularity = (
                    popularity_per_video(gold_popularity)
                    if gold_popularity is not None
                    else current_popularity(spark, cfg)
                )
                say("upsert", {"documents": n_up, "alias": alias})
                write_documents(spark, cfg, to_documents(upserts, popularity), alias)
            if n_del:
                say("delete", {"documents": n_del, "alias": alias})
                delete_documents(spark, cfg, deletes, alias)
            es.indices.refresh(index=alias)
    finally:
        if actions is not None:
            actions.unpersist()
    say("state", {"version": end})
    save_state(spark, cfg, end, index, n_up, n_del, tid)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


# --- consistency check ----------------------------------------------------------------------
@dataclass
class IndexCheck:
    """Ready videos in the catalog against documents in the index (ids and updated_at)."""

    alias: str
    indices: list[str]
    catalog_version: int | None
    synced_version: int | None
    catalog_ready: int
    indexed: int
    missing: list[str] = field(default_factory=list)  # ready in the catalog, not indexed
    extra: list[str] = field(default_factory=list)  # indexed, not ready in the catalog
    stale: list[tuple[str, str, str]] = field(default_factory=list)  # id, catalog, index

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.stale)


def _micros(value: Any) -> int | None:
    """An updated_at from a document (ISO string or epoch millis) as epoch microseconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) * 1000
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _iso(micros: int | None) -> str:
    if micros is None:
        return "-"
    stamp = datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc)
    return stamp.replace(microsecond=micros % 1_000_000).isoformat().replace("+00:00", "Z")


def check_index(spark: SparkSession, cfg: Config) -> IndexCheck:
    """Compare the ready catalog with the index behind the alias."""
    from elasticsearch import helpers

    tables = Tables(cfg)
    alias = alias_name(cfg)
    catalog: dict[str, int] = {}
    version = None
    if tables.exists(spark, "videos"):
        path = tables.path("videos")
        version = latest_version(spark, path)
        ready = (
            spark.read.format("delta")
            .option("versionAsOf", version)
            .load(path)
            .where(F.col("status") == "ready")
            .select("video_id", F.unix_micros("updated_at").alias("us"))
        )
        catalog = {r["video_id"]: r["us"] for r in ready.toLocalIterator()}
    state = read_state(spark, cfg)
    es = client(cfg)
    indexed: dict[str, int | None] = {}
    with es_errors(cfg, "reading the video index"):
        indices = alias_indices(es, alias)
        if indices:
            es.indices.refresh(index=alias)
            for hit in helpers.scan(
                es, index=alias, query={"query": {"match_all": {}}}, _source=["updated_at"]
            ):
                indexed[hit["_id"]] = _micros(hit["_source"].get("updated_at"))
    result = IndexCheck(
        alias=alias,
        indices=indices,
        catalog_version=version,
        synced_version=state.table_version if state else None,
        catalog_ready=len(catalog),
        indexed=len(indexed),
    )
    result.missing = sorted(set(catalog) - set(indexed))
    result.extra = sorted(set(indexed) - set(catalog))
    result.stale = sorted(
        (vid, _iso(catalog[vid]), _iso(indexed[vid]))
        for vid in set(catalog) & set(indexed)
        if catalog[vid] != indexed[vid]
    )
    return result


# --- entry point ----------------------------------------------------------------------------
