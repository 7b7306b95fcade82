"""The video catalog a playback simulation plays: the lake's ready videos, else a synthetic one.

Read from the Delta `videos`, `renditions` and `segments` tables (with Spark, started only when
they exist); a video whose segments do not add up is skipped with its reason, never silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vodlake.config import Config
from vodlake.telemetry import generator as ps

DEFAULT_SYNTHETIC_VIDEOS = 200


def catalog_from_rows(
    videos: Iterable[Mapping[str, Any]], segments: Iterable[Mapping[str, Any]]
) -> tuple[list[ps.CatalogVideo], dict[str, str]]:
    """Ready videos and their segments -> CatalogVideo list, plus {video_id: why it was skipped}.

    `videos`: video_id, title, duration_s. `segments`: video_id, rendition, chunk_idx, bytes,
    duration_s. A video is skipped (with a reason, never silently) when it has no segments,
    a rendition has gaps in chunk_idx, or its renditions disagree on the chunk count.
    """
    by_video: dict[str, dict[str, list[tuple[int, int, float]]]] = {}
    for seg in segments:
        chunks = by_video.setdefault(str(seg["video_id"]), {}).setdefault(str(seg["rendition"]), [])
        chunks.append((int(seg["chunk_idx"]), int(seg["bytes"]), float(seg["duration_s"])))
    catalog: list[ps.CatalogVideo] = []
    skipped: dict[str, str] = {}
    for video in sorted(videos, key=lambda v: str(v["video_id"])):
        vid = str(video["video_id"])
        renditions = by_video.get(vid)
        if not renditions:
            skipped[vid] = "no segments"
            continue
        sizes: dict[str, list[int]] = {}
        durations: list[float] = []
        problem = None
        for name in sorted(renditions):
            chunks = sorted(renditions[name])
            if [c[0] for c in chunks] != list(range(len(chunks))):
                problem = f"rendition {name} has gaps or repeats in chunk_idx"
                break
            if min(c[1] for c in chunks) <= 0:
                problem = f"rendition {name} has a segment of no bytes"
                break
            sizes[name] = [c[1] for c in chunks]
            durations = durations or [c[2] for c in chunks]
        if problem is None and len({len(s) for s in sizes.values()}) != 1:
            problem = "renditions have different chunk counts"
        if problem is None:
            full = durations[:-1] or durations
            segment_seconds = max(full)
            duration = float(video.get("duration_s") or 0) or sum(durations)
            if segment_seconds <= 0 or duration <= 0:
                problem = "segments have no duration"
        if problem is not None:
            skipped[vid] = problem
            continue
        catalog.append(
            ps.CatalogVideo(
                video_id=vid,
                title=str(video.get("title") or vid),
                duration_s=duration,
                segment_seconds=segment_seconds,
                release_day=None,
                renditions=sizes,
            )
        )
    return catalog, skipped


def catalog_from_tables(spark: Any, cfg: Config) -> tuple[list[ps.CatalogVideo], dict[str, str]]:
    """The ready videos of the Delta `videos` table with the sizes of their video segments."""
    from pyspark.sql import functions as F

    from vodlake.lake.tables import Tables

    tables = Tables(cfg)
    latest = (
        tables.read(spark, "videos")
        .groupBy("video_id")
        .agg(F.max_by(F.struct("status", "title", "duration_s"), "seq").alias("v"))
        .select("video_id", "v.*")
        .where(F.col("status") == "ready")
    )
    # the ladder a player switches between: the video renditions. The audio track is fetched
    # beside them and its segments end on audio frames, so their count may differ by a sliver.
    video_renditions = tables.read(spark, "renditions").where(F.col("kind") == "video")
    segments = (
        tables.read(spark, "segments")
        .join(latest.select("video_id"), "video_id", "left_semi")
        .join(
            video_renditions.select("video_id", "rendition"), ["video_id", "rendition"], "left_semi"
        )
    )
    videos = [r.asDict() for r in latest.select("video_id", "title", "duration_s").collect()]
    segs = [
        r.asDict()
        for r in segments.select(
            "video_id", "rendition", "chunk_idx", "bytes", "duration_s"
        ).collect()
    ]
    return catalog_from_rows(videos, segs)


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://") :]
    if uri.startswith("file:"):
        return uri[len("file:") :]
    return None if "://" in uri else uri


def catalog_tables_present(cfg: Config) -> bool | None:
    """Whether `videos` and `segments` exist as Delta tables; None when only Spark can tell."""
    from vodlake.lake.tables import Tables

    tables = Tables(cfg)
    present = []
    for name in ("videos", "segments"):
        local = _local_path(tables.path(name))
        if local is None:
            return None
        present.append(os.path.isdir(os.path.join(local, "_delta_log")))
    return all(present)


def load_catalog(
    cfg: Config,
    *,
    videos: int = DEFAULT_SYNTHETIC_VIDEOS,
    seed: int = 7,
    synthetic: bool = False,
    spark_factory: Callable[[], Any] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[list[ps.CatalogVideo], str]:
    """The catalog to simulate against and a line saying where it came from.

    Spark starts only when the catalog tables exist (or live on a non-local filesystem).
    """
    if not synthetic and catalog_tables_present(cfg) is not False:
        if spark_factory is None:
            from vodlake.lake.session import get_spark

            def spark_factory() -> Any:
                return get_spark(cfg, app_name="vodlake-simulate-playback")

        spark = spark_factory()
        from vodlake.lake.tables import Tables

        tables = Tables(cfg)
        if tables.exists(spark, "videos") and tables.exists(spark, "segments"):
            catalog, skipped = catalog_from_tables(spark, cfg)
            for vid, why in sorted(skipped.items()):
                log(f"  skipping video {vid}: {why}")
            if catalog:
                return catalog, f"{len(catalog)} ready videos from the catalog tables"
    ladder = tuple((r.name, r.bitrate_kbps) for r in cfg.transcode.ladder) or ps.DEFAULT_LADDER
    catalog = ps.synthetic_catalog(
        videos, seed, ladder, segment_seconds=cfg.transcode.segment_seconds
    )
    return catalog, f"synthetic catalog of {len(catalog)} videos (no ready videos in the lake)"
