"""The Spark half of the fill (see vodlake.delivery.fill): manifests -> plans, journals -> Delta.

`build_plans` resolves each edge's manifest of a date through the catalog (`segments` for the
files placement chose, with their size and sha256; `videos` and `renditions` for the playlists
and init segments of every title in the manifest). `record` writes what the fill did to
`edge_fills` and what the stores hold to `edge_inventory`, replacing the date's rows of the
edges it filled, so a rerun records the same thing once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config
from vodlake.delivery import edges
from vodlake.delivery.fill import (
    EdgePlan,
    FillFile,
    Journal,
    Log,
    apply_plan,
    held_files,
    journal_path,
    plan_path,
    write_atomic,
)
from vodlake.errors import VodlakeError
from vodlake.lake import storage
from vodlake.lake.tables import Tables
from vodlake.placement.manifests import manifest_dir
from vodlake.schemas import EDGE_FILLS, EDGE_INVENTORY


def read_manifest(cfg: Config, day: date, edge_id: str) -> dict[str, Any]:
    uri = f"{manifest_dir(cfg, day)}/{edge_id}.json"
    store = storage.Storage.from_config(cfg)
    if not store.exists(uri):
        raise VodlakeError(
            f"no prefill manifest of {day} for edge {edge_id} ({uri})",
            hint=f"run `vodlake nightly --date {day}` first",
        )
    return json.loads(store.read_bytes(uri))


def origin_path(cfg: Config, uri: str) -> str:
    """`videos/<video_id>/...`: where an origin file sits under the edges' /videos/ URLs."""
    return "videos/" + storage.relative_to(uri, storage.join(cfg.paths.origin, "videos"))


def _meta_files(spark: SparkSession, cfg: Config, video_ids: set[str]) -> dict[str, list[FillFile]]:
    """Each title's master playlist, DASH manifest, rendition playlists and init segments."""
    tables = Tables(cfg)
    ids = spark.createDataFrame([(v,) for v in sorted(video_ids)], "video_id string")
    out: dict[str, list[FillFile]] = {v: [] for v in video_ids}
    videos = tables.read(spark, "videos").join(F.broadcast(ids), "video_id")
    for row in videos.select("video_id", "hls_uri", "dash_uri").orderBy("video_id").collect():
        for uri in (row["hls_uri"], row["dash_uri"]):
            if uri:
                out[row["video_id"]].append(FillFile(origin_path(cfg, uri), row["video_id"]))
    rends = tables.read(spark, "renditions").join(F.broadcast(ids), "video_id")
    for row in rends.orderBy("video_id", "rendition").collect():
        for uri in (row["playlist_uri"], row["init_uri"]):
            if uri:
                out[row["video_id"]].append(FillFile(origin_path(cfg, uri), row["video_id"]))
    return out


def build_plans(
    spark: SparkSession, cfg: Config, day: date, edge_ids: list[str] | None = None
) -> list[EdgePlan]:
    lays = edges.layouts(cfg, edge_ids)
    docs = {lay.edge.id: read_manifest(cfg, day, lay.edge.id) for lay in lays}
    oids = sorted(
        {e["object_id"] for d in docs.values() for a in ("add", "keep", "drop") for e in d[a]}
    )
    parts = []
    for oid in oids:
        vid, rendition, chunk = oid.rsplit("/", 2)
        parts.append((vid, rendition, int(chunk), oid))
    by_oid: dict[str, FillFile] = {}
    if parts:
        objs = spark.createDataFrame(
            parts, "video_id string, rendition string, chunk_idx int, object_id string"
        )
        segs = (
            Tables(cfg)
            .read(spark, "segments")
            .join(F.broadcast(objs), ["video_id", "rendition", "chunk_idx"])
        )
        for r in segs.select("object_id", "video_id", "uri", "bytes", "sha256").collect():
            path = origin_path(cfg, r["uri"])
            by_oid[r["object_id"]] = FillFile(
                path, r["video_id"], r["object_id"], int(r["bytes"]), r["sha256"]
            )
    titles = {
        e["object_id"].rsplit("/", 2)[0]
        for d in docs.values()
        for a in ("add", "keep")
        for e in d[a]
    }
    meta = _meta_files(spark, cfg, titles) if titles else {}
    plans = []
    for lay in lays:
        doc = docs[lay.edge.id]
        plan = EdgePlan(
            edge_id=lay.edge.id,
            date=day.isoformat(),
            budget_bytes=int(doc.get("fill_budget_bytes") or lay.edge.fill_budget_bytes),
            capacity_bytes=edges.prefill_room(lay.edge),  # the cache's floor stays free
        )
        seen: set[str] = set()
        for entry in doc["keep"] + doc["add"]:
            f = by_oid.get(entry["object_id"])
            if f is None:
                plan.unresolved.append(entry["object_id"])
                continue
            for m in [*meta.get(f.video_id, []), f]:  # a title's playlists before its segments
                if m.path not in seen:
                    seen.add(m.path)
                    plan.want.append(m)
        plan.drop = [by_oid[e["object_id"]] for e in doc["drop"] if e["object_id"] in by_oid]
        plans.append(plan)
    return plans


def replace_edges_of_day(
    spark: SparkSession, cfg: Config, name: str, df: DataFrame, day: date, edge_ids: list[str]
) -> None:
    """Replace the rows of `day` and these edges in table `name` (created when missing)."""
    path = Tables(cfg).ensure(spark, name)
    quoted = ", ".join("'" + e.replace("'", "''") + "'" for e in edge_ids)
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"date = '{day}' AND edge_id IN ({quoted})")
        .save(path)
    )


def _sha256(path: Any) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record(spark: SparkSession, cfg: Config, day: date, plans: list[EdgePlan]) -> dict[str, int]:
    """Journals of `day` -> edge_fills; the prefill stores now -> edge_inventory."""
    fills: list[tuple[Any, ...]] = []
    inventory: list[tuple[Any, ...]] = []
    now = datetime.now().astimezone()
    for plan in plans:
        lay = edges.layout(cfg, plan.edge_id)
        entries = Journal(journal_path(lay, day), plan.edge_id, plan.date, "").entries()
        shas = {e["path"]: e["sha256"] for e in entries if e["result"] == "filled"}
        for e in entries:
            fills.append(
                (
                    day,
                    e["edge_id"],
                    e["run_id"],
                    e["video_id"],
                    e["object_id"],
                    e["path"],
                    int(e["bytes"]),
                    e["source"],
                    float(e["seconds"]),
                    e["result"],
                    e["reason"],
                    e["sha256"],
                    datetime.fromisoformat(e["filled_at"]),
                )
            )
        wanted = {f.path: f for f in plan.want}
        for rel, size in sorted(held_files(lay).items()):
            f = wanted.get(rel) or FillFile(rel, rel.split("/")[1])
            sha = f.sha256 or shas.get(rel) or _sha256(lay.prefill / rel)
            inventory.append((day, plan.edge_id, f.video_id, f.object_id, rel, size, sha, now))
    ids = [p.edge_id for p in plans]
    replace_edges_of_day(
        spark, cfg, "edge_fills", spark.createDataFrame(fills, EDGE_FILLS), day, ids
    )
    replace_edges_of_day(
        spark, cfg, "edge_inventory", spark.createDataFrame(inventory, EDGE_INVENTORY), day, ids
    )
    return {"edge_fills": len(fills), "edge_inventory": len(inventory)}


def run(
    spark: SparkSession,
    cfg: Config,
    day: date,
    edge_ids: list[str] | None = None,
    log: Log = print,
) -> list[dict[str, Any]]:
    """Plan, apply (edges in topology order, so a site's later edges can fill from earlier
    ones) and record the fill of `day`; returns each edge's summary."""
    plans = build_plans(spark, cfg, day, edge_ids)
    for plan in plans:
        write_atomic(plan_path(edges.layout(cfg, plan.edge_id), day), plan.to_json().encode())
        if plan.unresolved:
            log(
                f"  {plan.edge_id}: {len(plan.unresolved)} manifest objects are not in the"
                f" segments table (first: {plan.unresolved[0]})"
            )
    log(
        f"fill {day}: {sum(len(p.want) for p in plans):,} files wanted on {len(plans)} edges"
        f" ({sum(f.bytes or 0 for p in plans for f in p.want):,} B of segments)"
    )
    results = [apply_plan(cfg, plan, log=log) for plan in plans]
    counts = record(spark, cfg, day, plans)
    log(f"recorded {counts['edge_fills']:,} fill rows, {counts['edge_inventory']:,} inventory rows")
    return results
