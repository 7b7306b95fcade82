"""Edge placement of one date: gold popularity -> `placement` table + a prefill manifest per edge.

`spark-submit jobs/placement.py --date 2026-11-05` or `vodlake job placement --date ...`.
The placement made from day D's data is what each edge is filled with in the night after D.
What an edge holds now is the latest placement before D (its add + keep rows); the first
night it holds nothing. Idempotent: the table's partition of D is replaced, and the manifest
folder <paths.origin>/manifests/<D>/ is replaced as a whole, with deterministic content (same
order, same numbers), so a rerun writes the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from vodlake.config import Config, EdgeConf
from vodlake.errors import VodlakeError
from vodlake.lake import fs
from vodlake.lake.tables import Tables
from vodlake.schemas import PLACEMENT
from vodlake.transforms.placement import candidates, plan_placement, split_over_sites

Log = Callable[[str], None]


def manifest_dir(cfg: Config, day: date) -> str:
    return f"{cfg.paths.origin.rstrip('/')}/manifests/{day}"


def edges_frame(spark: SparkSession, edges: Sequence[EdgeConf]) -> DataFrame:
    """The configured edges as rows (edge_id, capacity_bytes, fill_budget_bytes, isp)."""
    return spark.createDataFrame(
        [(e.id, e.capacity_bytes, e.fill_budget_bytes, e.isp) for e in edges],
        "edge_id string, capacity_bytes long, fill_budget_bytes long, isp string",
    )


def holdings(spark: SparkSession, cfg: Config, day: date) -> tuple[DataFrame | None, date | None]:
    """Files on each edge before the fill of ``day``: the latest earlier placement's add + keep."""
    tables = Tables(cfg)
    if not tables.exists(spark, "placement"):
        return None, None
    table = tables.read(spark, "placement")
    latest = table.where(F.col("date") < F.lit(day)).agg(F.max("date")).first()[0]
    if latest is None:
        return None, None
    held = table.where((F.col("date") == F.lit(latest)) & F.col("action").isin("add", "keep"))
    return held.select("edge_id", "video_id", "rendition", "chunk_idx", "bytes"), latest


def _entry(row: Row) -> dict[str, Any]:
    return {
        "object_id": row["object_id"],
        "bytes": int(row["bytes"]),
        "score": float(row["score"]),
        "reason": row["reason"],
    }


def manifest_document(edge: EdgeConf, day: date, rows: Iterable[Row]) -> dict[str, Any]:
    """One edge's prefill manifest (the format vodlake.cachesim.load_manifest reads).

    ``add`` is what the fill pulls, ``keep`` stays, ``drop`` is deleted first; each list is in
    rank order (score desc, then object_id), which is also the fill order.
    """
    lists: dict[str, list[Row]] = {"add": [], "keep": [], "drop": []}
    for row in rows:
        lists[row["action"]].append(row)
    doc: dict[str, Any] = {
        "edge_id": edge.id,
        "date": day.isoformat(),
        "fill_for": (day + timedelta(days=1)).isoformat(),
        "capacity_bytes": edge.capacity_bytes,
        "fill_budget_bytes": edge.fill_budget_bytes,
    }
    for action, items in lists.items():
        items.sort(key=lambda r: (-r["score"], r["object_id"]))
        doc[f"{action}_files"] = len(items)
        doc[f"{action}_bytes"] = sum(int(r["bytes"]) for r in items)
    doc["held_bytes"] = doc["add_bytes"] + doc["keep_bytes"]
    for action, items in lists.items():
        doc[action] = [_entry(r) for r in items]
    return doc


def manifest_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def run(spark: SparkSession, cfg: Config, day: date, log: Log = print) -> dict[str, Any]:
    """Plan ``day``'s placement, write the table partition and the manifests; returns a summary."""
    tables = Tables(cfg)
    edges = list(cfg.topology.edges)
    if not edges:
        raise VodlakeError("the topology has no edges", hint="add topology.edges to the config")
    if not tables.exists(spark, "gold_popularity"):
        raise VodlakeError(
            "no gold_popularity table yet", hint=f"run `vodlake job popularity --date {day}` first"
        )
    gold = tables.read(spark, "gold_popularity").where(F.col("date") == F.lit(day))
    seen = {r["edge_id"] for r in gold.select("edge_id").distinct().collect()}
    if not seen:
        raise VodlakeError(
            f"gold_popularity has no rows for {day}",
            hint=f"run `vodlake job popularity --date {day}` first",
        )
    unknown = sorted(seen - {e.id for e in edges})
    if unknown:
        log(f"warning: edges not in topology.edges get no placement: {', '.join(unknown)}")
    previous, since = holdings(spark, cfg, day)
    log(f"edges hold the placement of {since}" if since else "edges start empty (no placement)")
    pc = cfg.placement
    frame = edges_frame(spark, edges)
    plan = plan_placement(
        candidates(gold).transform(split_over_sites, frame),
        frame,
        previous,
        early_chunk_weight=pc.early_chunk_weight,
        early_chunks=pc.early_chunks,
        min_swap_gain=pc.min_swap_gain,
    )
    out = plan.select(
        F.lit(day).alias("date"), *[f.name for f in PLACEMENT.fields if f.name != "date"]
    ).select(*[F.col(f.name).cast(f.dataType) for f in PLACEMENT.fields])
    tables.replace_date(spark, "placement", out, day)
    # Manifests are built from what the table now holds, so the two always agree.
    rows = (
        tables.read(spark, "placement")
        .where(F.col("date") == F.lit(day))
        .select("edge_id", "object_id", "bytes", "score", "action", "reason")
        .collect()
    )
    by_edge: dict[str, list[Row]] = {e.id: [] for e in edges}
    for row in rows:
        by_edge[row["edge_id"]].append(row)
    docs = {e.id: manifest_document(e, day, by_edge[e.id]) for e in edges}
    files = fs.replace_folder(
        spark, manifest_dir(cfg, day), {f"{k}.json": manifest_bytes(v) for k, v in docs.items()}
    )
    summary = {
        "date": day.isoformat(),
        "rows": len(rows),
        "manifests": files,
        "edges": {
            k: {a: (v[f"{a}_files"], v[f"{a}_bytes"]) for a in ("add", "keep", "drop")}
            for k, v in docs.items()
        },
    }
    for edge_id, counts in summary["edges"].items():
        log(
            f"  {edge_id}: add {counts['add'][0]:,} files ({counts['add'][1]:,} B), "
            f"keep {counts['keep'][0]:,}, drop {counts['drop'][0]:,}"
        )
    log(f"placement {day}: {len(rows):,} rows, {len(files)} manifests in {manifest_dir(cfg, day)}")
    return summary
