"""`vodlake videos [--json]`: the catalog: id, title, status, reason, duration, renditions,
the HLS master and DASH manifest URIs of every video, and `origin_url`: the plain-HTTP URL of
the HLS master on the object store (what an edge fills from; None off the object store).

Reads the Delta `videos` table with a small local Spark session (one core, no connectors
beyond Delta), so it works while the transcode stream is writing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from vodlake.config import Config
from vodlake.runtime import add_common_options, config_from

COLUMNS = (
    "video_id",
    "title",
    "status",
    "reason",
    "duration_s",
    "renditions",
    "hls_uri",
    "dash_uri",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per video per line")
    parser.add_argument("--status", default=None, help="only videos with this status")
    add_common_options(parser, env=False, master_help="Spark master (default local[2])")


def list_videos(cfg: Config, status: str | None = None, master: str | None = None) -> list[dict]:
    """The catalog rows, newest first ([] when nothing was uploaded yet)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from vodlake.lake.session import get_spark
    from vodlake.lake.tables import Tables

    own = SparkSession.getActiveSession() is None
    spark = get_spark(cfg, app_name="vodlake-videos", master=master or "local[2]")
    if own:  # a catalog is small: one task per step instead of Delta's 50-way state rebuild
        spark.conf.set("spark.databricks.delta.snapshotPartitions", "1")
        spark.conf.set("spark.sql.shuffle.partitions", "1")
    tables = Tables(cfg)
    if not tables.exists(spark, "videos"):
        return []
    df = tables.read(spark, "videos")
    if status:
        df = df.where(F.col("status") == status)
    rows = [r.asDict() for r in df.select(*COLUMNS, "updated_at").collect()]
    rows.sort(key=lambda r: r["video_id"])
    rows.sort(key=lambda r: r["updated_at"], reverse=True)  # newest first
    return [
        {**{c: r[c] for c in COLUMNS}, "origin_url": _origin_url(cfg, r["hls_uri"])} for r in rows
    ]


def _origin_url(cfg: Config, hls_uri: str | None) -> str | None:
    from vodlake.lake.storage import StorageError, public_url

    if not hls_uri:
        return None
    try:
        return public_url(cfg, hls_uri)
    except StorageError:  # a local (file://) origin has no HTTP URL
        return None


def format_table(rows: list[dict[str, Any]]) -> str:
    """Aligned text: one line per video, then its reason or its two manifest URIs."""
    if not rows:
        return "no videos yet (upload one with `vodlake upload PATH --title T`)\n"
    head = ("video_id", "status", "duration", "renditions", "title")
    lines_data = [
        (
            r["video_id"],
            r["status"],
            f"{r['duration_s']:.2f}s" if r["duration_s"] is not None else "-",
            ",".join(r["renditions"] or []) or "-",
            r["title"] or "",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(x[i]) for x in lines_data)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    for r, cells in zip(rows, lines_data, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if r["reason"]:
            out.append(f"    reason: {r['reason']}")
        if r["hls_uri"]:
            out.append(f"    hls:    {r['hls_uri']}")
        if r["dash_uri"]:
            out.append(f"    dash:   {r['dash_uri']}")
        if r.get("origin_url"):
            out.append(f"    http:   {r['origin_url']}")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    cfg = config_from(args)
    rows = list_videos(cfg, args.status, args.master)
    if args.json:
        for r in rows:
            out.write(json.dumps(r) + "\n")
    else:
        out.write(format_table(rows))
    return 0


__all__ = ["COLUMNS", "configure", "format_table", "list_videos", "run"]
