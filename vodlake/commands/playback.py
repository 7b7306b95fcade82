"""`vodlake simulate-playback`: a deterministic playback history to Kafka and/or JSON lines files.

The catalog is the lake's ready videos (Delta `videos` + `segments`, read with Spark only when
those tables exist), else a synthetic one. Events go to the `playback` topic keyed by
session_id (so a session keeps its order within one partition), optionally rate limited, and/or
to JSON lines files. The same seed, catalog and topology give the same events, event ids
included, so producing a run twice produces exact duplicates (which silver removes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.runtime import add_set_option
from vodlake.telemetry import generator as ps

DEFAULT_SYNTHETIC_VIDEOS = 200


# ----------------------------------------------------------------------------------------------
# Catalog


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


# ----------------------------------------------------------------------------------------------
# Producing


def throttle(
    events: Iterable[dict[str, Any]],
    rate: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield events no faster than `rate` per second on average (None: as fast as possible)."""
    if rate is None:
        yield from events
        return
    if not rate > 0:
        raise VodlakeError(f"--rate must be positive (got {rate})")
    start = clock()
    for n, event in enumerate(events):
        due = start + n / rate
        now = clock()
        if due > now:
            sleep(due - now)
        yield event


class _Tally:
    """Counts what passes through, for the closing summary."""

    def __init__(self) -> None:
        self.events = 0
        self.by_type: Counter[str] = Counter()
        self.sessions: set[str] = set()
        self.first: str | None = None
        self.last: str | None = None

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            self.events += 1
            self.by_type[event["event_type"]] += 1
            self.sessions.add(event["session_id"])
            when = event["event_time"]
            self.first = when if self.first is None or when < self.first else self.first
            self.last = when if self.last is None or when > self.last else self.last
            yield event


def _parse_start(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise VodlakeError(f"--start {text!r} is not a date", hint="use YYYY-MM-DD") from None
    return day.replace(tzinfo=timezone.utc)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate viewing sessions (Zipf popularity with drift and release spikes, diurnal "
        "load, early abandonment, ABR switches, one request per chunk, edge steering) and send "
        "the events to Kafka keyed by session_id and/or write JSON lines files."
    )
    parser.add_argument("--days", type=int, required=True, metavar="N")
    parser.add_argument("--sessions-per-day", type=int, required=True, metavar="K")
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="same seed, same events")
    parser.add_argument("--rate", type=float, default=None, metavar="R", help="events/s to Kafka")
    parser.add_argument("--out", default=None, metavar="DIR", help="also write JSON lines here")
    parser.add_argument("--no-kafka", action="store_true", help="only write files (needs --out)")
    parser.add_argument("--topic", default=None, help="default: kafka.topics.playback")
    parser.add_argument(
        "--start",
        default=ps.DEFAULT_START.strftime("%Y-%m-%d"),
        metavar="YYYY-MM-DD",
        help="first simulated day, UTC (default %(default)s)",
    )
    parser.add_argument(
        "--videos",
        type=int,
        default=DEFAULT_SYNTHETIC_VIDEOS,
        help="size of the synthetic catalog when the lake has no ready videos",
    )
    parser.add_argument(
        "--synthetic", action="store_true", help="use a synthetic catalog even if the lake has one"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files in --out")
    parser.add_argument(
        "--rows-per-file", type=int, default=1_000_000, help="JSON lines per file in --out"
    )
    add_set_option(parser, "kafka.bootstrap_servers=127.0.0.1:9092")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from vodlake.lake import kafka_io
    from vodlake.runtime import config_from

    out = out if out is not None else sys.stdout

    def log(msg: str) -> None:
        out.write(msg + "\n")
        out.flush()

    if args.no_kafka and not args.out:
        raise VodlakeError("--no-kafka leaves nowhere to write", hint="add --out DIR")
    if not _rate_ok(args.rate):
        raise VodlakeError(f"--rate must be a positive number (got {args.rate})")
    start = _parse_start(args.start)
    cfg = config_from(args)
    catalog, where = load_catalog(
        cfg, videos=args.videos, seed=args.seed, synthetic=args.synthetic, log=log
    )
    log(f"catalog: {where}")

    def events() -> Iterator[dict[str, Any]]:
        return ps.generate(
            catalog, cfg.topology, args.days, args.sessions_per_day, args.seed, start
        )

    events()  # validates the arguments before anything is written or sent
    end = start.timestamp() + args.days * 86_400
    if end > time.time():
        log(
            "note: the history reaches past now; events later than arrival + "
            f"{cfg.playback.future_skew_s} s will be quarantined as future_timestamp"
        )
    tally = _Tally()
    if args.out:
        files = ps.write_jsonl(
            tally.watch(events()), args.out, args.rows_per_file, overwrite=args.overwrite
        )
        log(f"wrote {tally.events:,} events to {len(files)} file(s) in {args.out}")
    if not args.no_kafka:
        topic = args.topic or cfg.kafka.topics.playback
        kafka_io.ensure_topic(cfg, topic)
        stream = events() if args.out else tally.watch(events())
        t0 = time.monotonic()

        def progress(n: int) -> None:
            elapsed = max(time.monotonic() - t0, 1e-9)
            log(f"  sent {n:,} events ({n / elapsed:,.0f}/s)")

        rate = f" at most {args.rate:,.0f} events/s" if args.rate else ""
        log(f"producing to Kafka topic '{topic}' keyed by session_id{rate}")
        sent = kafka_io.produce(
            cfg, topic, throttle(stream, args.rate), key="session_id", progress=progress
        )
        elapsed = max(time.monotonic() - t0, 1e-9)
        log(f"sent {sent:,} events in {elapsed:.1f} s ({sent / elapsed:,.0f}/s)")
    types = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.by_type.items()))
    log(
        f"{tally.events:,} events ({types}) in {len(tally.sessions):,} sessions, "
        f"{tally.first} .. {tally.last}"
    )
    return 0


def _rate_ok(rate: float | None) -> bool:
    return rate is None or (math.isfinite(rate) and rate > 0)


__all__ = [
    "catalog_from_rows",
    "catalog_from_tables",
    "catalog_tables_present",
    "configure",
    "load_catalog",
    "run",
    "throttle",
]
