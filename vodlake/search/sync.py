"""Incremental search sync: the `videos` Change Data Feed -> Elasticsearch, resumable by version.

The last table version whose changes reached the index is kept in the Delta table `sync_state`
(vodlake.search.state). A sync is three steps:
1. `read_facts` reads where things stand (saved version, latest version, table id) and
   `plan_sync` decides, without any I/O, what to do: nothing (`up-to-date`), a `snapshot`
   (nothing saved, or the index is new), the `changes` of a version range, or a `reindex`
   (the table was dropped and created again, so its feed cannot say what disappeared);
2. `read_actions` reads the feed (or snapshot) as upsert/delete actions;
3. `apply_actions` upserts ready videos through elasticsearch-hadoop (keyed by video_id),
   deletes the documents of videos that were deleted or are no longer ready, refreshes, and
   only then the new version is saved.
A failure at any point leaves the saved version where it was, and replaying a range is harmless
(upserts by id, deletes by id), so running again from the same version gives the same index.

`sync_search(spark, cfg)` is what the upload stream calls from its foreachBatch;
`spark-submit jobs/search_sync.py` / `vodlake job search_sync` run it once.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from elasticsearch import helpers
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake.tables import Tables
from vodlake.search.index import alias_indices, alias_name, client, ensure_video_alias, es_errors
from vodlake.search.reindex import Progress, reindex
from vodlake.search.state import (
    current_popularity,
    latest_version,
    read_changes,
    read_state,
    require_videos,
    save_state,
    table_id,
)
from vodlake.search.writes import delete_documents, one_line, sync_failure, write_documents
from vodlake.transforms.search_docs import (
    popularity_per_video,
    snapshot_as_changes,
    split_actions,
    sync_actions,
    to_documents,
)


# --- plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncFacts:
    """Where the catalog and the saved sync position stand before a sync."""

    saved_version: int | None
    saved_table_id: str | None
    latest_version: int
    table_id: str

    @property
    def table_recreated(self) -> bool:
        """The saved version belongs to a `videos` table that no longer exists."""
        if self.saved_version is None:
            return False
        return (
            self.saved_version > self.latest_version
            or (self.saved_table_id or self.table_id) != self.table_id
        )


@dataclass(frozen=True)
class SyncPlan:
    """What a sync does: `mode` is up-to-date | snapshot | changes | reindex."""

    mode: str
    from_version: int | None  # first feed version read; None for a snapshot or a reindex
    to_version: int


def plan_sync(
    facts: SyncFacts, *, from_version: int | None = None, index_created: bool = False
) -> SyncPlan:
    """Decide what to sync from the facts alone (no I/O).

    `from_version` replays the feed from that version whatever was saved; `index_created` says
    the index behind the alias is new, so what was saved no longer describes it.
    """
    end = facts.latest_version
    if from_version is not None and from_version < 0:
        raise VodlakeError(f"--from-version must be 0 or more, got {from_version}")
    if from_version is None and facts.table_recreated:
        return SyncPlan("reindex", None, end)
    if from_version is not None:
        start: int | None = from_version
    elif facts.saved_version is None or index_created:
        start = None
    else:
        start = facts.saved_version + 1
    if start is None:
        return SyncPlan("snapshot", None, end)
    if start > end:
        return SyncPlan("up-to-date", start, end)
    return SyncPlan("changes", start, end)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did."""

    alias: str
    index: str
    mode: str  # up-to-date | snapshot | changes | reindex
    from_version: int | None
    to_version: int
    upserted: int = 0
    deleted: int = 0
    seconds: float = 0.0


# --- read -----------------------------------------------------------------------------------
def read_facts(spark: SparkSession, cfg: Config, path: str) -> SyncFacts:
    state = read_state(spark, cfg)
    return SyncFacts(
        saved_version=state.table_version if state else None,
        saved_table_id=state.table_id if state else None,
        latest_version=latest_version(spark, path),
        table_id=table_id(spark, path),
    )


def read_actions(spark: SparkSession, path: str, plan: SyncPlan) -> DataFrame:
    """The plan's feed range (or snapshot) as one upsert/delete action per video."""
    if plan.from_version is None:
        snapshot = spark.read.format("delta").option("versionAsOf", plan.to_version).load(path)
        changes = snapshot_as_changes(snapshot, plan.to_version)
    else:
        changes = read_changes(spark, path, plan.from_version, plan.to_version)
    return sync_actions(changes)


def _describe(plan: SyncPlan) -> str:
    if plan.from_version is None:
        return f"search sync of the videos snapshot at version {plan.to_version}"
    return f"search sync of videos versions {plan.from_version}..{plan.to_version}"


# --- apply ----------------------------------------------------------------------------------
def apply_actions(
    spark: SparkSession,
    cfg: Config,
    actions: DataFrame,
    counts: tuple[int, int],
    *,
    gold_popularity: DataFrame | None,
    saved: int | None,
    what: str,
    say: Progress,
) -> None:
    """Upserts, then deletes, then a refresh, so a search sees the whole range at once."""
    alias = alias_name(cfg)
    n_up, n_del = counts
    upserts, deletes = split_actions(actions)
    es = client(cfg)
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


# --- the sync -------------------------------------------------------------------------------
def sync_search(
    spark: SparkSession,
    cfg: Config,
    *,
    from_version: int | None = None,
    gold_popularity: DataFrame | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Bring the index up to the latest `videos` version (see the module doc).

    `gold_popularity` overrides the gold table (e.g. a batch's own figures).
    """
    started = time.monotonic()
    say = progress or (lambda stage, info: None)
    path = require_videos(spark, cfg)
    alias = alias_name(cfg)
    facts = read_facts(spark, cfg, path)
    plan = plan_sync(facts, from_version=from_version)

    def done(index: str, plan: SyncPlan, upserted: int = 0, deleted: int = 0) -> SyncResult:
        seconds = round(time.monotonic() - started, 3)
        return SyncResult(
            alias, index, plan.mode, plan.from_version, plan.to_version, upserted, deleted, seconds
        )

    if plan.mode == "reindex":
        say("reindex", {"reason": "the videos table was recreated", "saved": facts.saved_version})
        rebuilt = reindex(spark, cfg, gold_popularity=gold_popularity, progress=progress)
        return done(rebuilt.index, replace(plan, to_version=rebuilt.version), rebuilt.documents)
    saved = facts.saved_version
    with sync_failure(cfg, "search sync", saved), es_errors(cfg, "preparing the video index"):
        index, created = ensure_video_alias(client(cfg), cfg)
    if created:
        plan = plan_sync(facts, from_version=from_version, index_created=True)
    if plan.mode == "up-to-date":
        return done(index, plan)
    what = _describe(plan)
    actions: DataFrame | None = None
    try:
        try:
            actions = read_actions(spark, path, plan).persist()
            counts = {r["action"]: r["count"] for r in actions.groupBy("action").count().collect()}
        except Exception as exc:
            raise VodlakeError(
                f"{what} cannot read the catalog: {one_line(exc)}",
                hint="the change feed may be vacuumed or off for those versions: "
                "`vodlake job search_reindex` rebuilds from the catalog",
            ) from None
        n_up, n_del = counts.get("upsert", 0), counts.get("delete", 0)
        say("plan", asdict(done(index, plan, n_up, n_del)))
        apply_actions(
            spark,
            cfg,
            actions,
            (n_up, n_del),
            gold_popularity=gold_popularity,
            saved=saved,
            what=what,
            say=say,
        )
    finally:
        if actions is not None:
            actions.unpersist()
    say("state", {"version": plan.to_version})
    save_state(spark, cfg, plan.to_version, index, n_up, n_del, facts.table_id)
    return done(index, plan, n_up, n_del)


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
