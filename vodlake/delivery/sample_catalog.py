"""A small real catalog for delivery runs (tests and `vodlake loop`): generated clips, uploaded
and transcoded by the real pipeline.

Titles are real transcodes (H.264 fMP4 HLS/DASH on the config's origin) so players and edges
move real segments; the clips are short and low resolution to keep runs fast on a loaded box.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vodlake.config import Config
from vodlake.errors import VodlakeError

# two rungs below the 320x180 sources, 2 s segments: enough for ABR to have a choice
LADDER = [
    {"name": "144p", "width": 256, "height": 144, "bitrate_kbps": 200},
    {"name": "180p", "width": 320, "height": 180, "bitrate_kbps": 500},
]
TRANSCODE = {
    "segment_seconds": 2,
    "segments_per_chunk": 5,
    "preset": "ultrafast",
    "ladder": LADDER,
    "limits": {"max_width": 480, "max_height": 270, "max_duration_s": 600},
}
SOURCES = ("testsrc2", "mandelbrot", "life", "smptehdbars")


def build_catalog(
    spark: Any, cfg: Config, media: Path, titles: int, seconds: float, first: int = 0
) -> list[str]:
    """Upload `titles` generated clips of `seconds` and transcode them; return the video ids."""
    from vodlake.catalog import stream, uploads
    from vodlake.media.samples import make_sample

    media.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(first, first + titles):
        clip = make_sample(
            media / f"clip{i}.mp4", seconds, 320, 180, source=SOURCES[i % len(SOURCES)],
            tone_hz=300 + 40 * i, noise=8,
        )  # fmt: skip
        meta = uploads.Metadata(title=f"Delivery clip {i}", tags=("delivery",), language="en")
        ids.append(uploads.upload(cfg, clip, meta).video_id)
    query = stream.start(spark, cfg, once=True, log=lambda *_: None)
    query.awaitTermination()
    if query.exception() is not None:
        raise RuntimeError(f"transcode failed: {query.exception()}")
    return ids


# --- synthetic load titles ------------------------------------------------------------------
SYNTHETIC_TAG = "synthetic"
SYNTHETIC_PREFIX = "synth-"


def synthetic_id(i: int) -> str:
    return f"{SYNTHETIC_PREFIX}{i:04d}"


def is_synthetic(video_id: str) -> bool:
    return video_id.startswith(SYNTHETIC_PREFIX)


def media_playlist(names: list[str], seconds: list[float]) -> str:
    """A VOD fMP4 media playlist in the packager's shape (init.m4s, then the segments)."""
    target = max(1, round(max(seconds)))
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-PLAYLIST-TYPE:VOD",
             "#EXT-X-INDEPENDENT-SEGMENTS", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:1", '#EXT-X-MAP:URI="init.m4s"']  # fmt: skip
    for name, s in zip(names, seconds, strict=True):
        lines += [f"#EXTINF:{s:.6f},", name]
    return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"


def video_only_master(text: str) -> str:
    """A real title's HLS master without its audio group (synthetic titles have no audio)."""
    out = [ln for ln in text.splitlines() if not ln.startswith("#EXT-X-MEDIA:")]
    return "\n".join(re.sub(r',AUDIO="[^"]*"', "", ln) for ln in out) + "\n"


def build_synthetic(spark: Any, cfg: Config, first: int, count: int) -> list[str]:
    """Add `count` synthetic titles (ids synth-<first>...), labelled as such, to the catalog.

    Why: a few real transcodes make no long tail, and transcoding hundreds of clips does not
    fit a demo. Each synthetic title copies the shape of a real transcoded title (its video
    renditions, the byte size and duration of every segment, its master playlist without the
    audio group) but its segments and init segments are random bytes: segment-sized load for
    edges and players, which never decode. They are catalogued like real titles (`videos`
    ready, `renditions`, `segments` with sha256), titled "Synthetic load title N", tagged
    `synthetic`, with no DASH manifest and no source, so nothing mistakes them for video.
    """
    from pyspark.sql import functions as F

    from vodlake.lake import storage
    from vodlake.lake.tables import Tables
    from vodlake.schemas import RENDITIONS, SEGMENTS, VIDEOS

    tables = Tables(cfg)
    videos = (
        tables.read(spark, "videos")
        .where((F.col("status") == "ready") & ~F.col("video_id").startswith(SYNTHETIC_PREFIX))
        .orderBy("video_id")
        .collect()
    )
    if not videos:
        raise VodlakeError("no real title to model synthetic titles on", hint="transcode one")
    real = [v["video_id"] for v in videos]
    rends = (
        tables.read(spark, "renditions")
        .where(F.col("kind") == "video")
        .where(F.col("video_id").isin(real))
        .collect()
    )
    segs = (
        tables.read(spark, "segments")
        .where(F.col("video_id").isin(real))
        .select("video_id", "rendition", "chunk_idx", "start_s", "duration_s", "bytes", "uri")
        .collect()
    )
    store = storage.Storage.from_config(cfg)
    masters = {
        v["video_id"]: video_only_master(store.read_bytes(v["hls_uri"]).decode()) for v in videos
    }
    now = datetime.now(timezone.utc)
    rng = random.Random(f"synthetic:{first}:{count}")
    puts: list[tuple[str, bytes]] = []
    rows: dict[str, list[tuple[Any, ...]]] = {"videos": [], "renditions": [], "segments": []}
    ids = []
    for i in range(first, first + count):
        model = videos[i % len(videos)]
        vid = synthetic_id(i)
        ids.append(vid)
        root = storage.join(cfg.paths.origin, "videos", vid)
        names = []
        for r in sorted(
            (r for r in rends if r["video_id"] == model["video_id"]), key=lambda r: r["rendition"]
        ):
            mine = sorted(
                (
                    s
                    for s in segs
                    if (s["video_id"], s["rendition"]) == (model["video_id"], r["rendition"])
                ),
                key=lambda s: s["chunk_idx"],
            )
            files = [s["uri"].rsplit("/", 1)[1] for s in mine]
            init = rng.randbytes(800)
            puts.append((storage.join(root, r["rendition"], "init.m4s"), init))
            total = len(init)
            for s, name in zip(mine, files, strict=True):
                body = rng.randbytes(int(s["bytes"]))
                uri = storage.join(root, r["rendition"], name)
                puts.append((uri, body))
                total += len(body)
                rows["segments"].append(
                    (vid, r["rendition"], s["chunk_idx"], s["start_s"], s["duration_s"], len(body),
                     hashlib.sha256(body).hexdigest(), uri, None, None, None)
                )  # fmt: skip
            playlist = storage.join(root, r["rendition"], "playlist.m3u8")
            puts.append((playlist, media_playlist(files, [s["duration_s"] for s in mine]).encode()))
            rows["renditions"].append(
                (vid, r["rendition"], "video", r["codec"], r["codecs"], r["width"], r["height"],
                 r["bitrate_kbps"], r["bandwidth_bps"], len(mine),
                 sum(s["duration_s"] for s in mine), total, playlist,
                 storage.join(root, r["rendition"], "init.m4s"), now)
            )  # fmt: skip
            names.append(r["rendition"])
        hls = storage.join(root, "master.m3u8")
        puts.append((hls, masters[model["video_id"]].encode()))  # last: the title's entry point
        row = dict(model.asDict())
        row.update(
            video_id=vid, seq=i, title=f"Synthetic load title {i}",
            description="synthetic load object: random bytes of a real title's segment sizes",
            tags=["delivery", SYNTHETIC_TAG], genres=None, source_uri=None, source_sha256=None,
            size_bytes=None, renditions=names, hls_uri=hls, dash_uri=None, created_at=now,
            updated_at=now, release_at=None,
        )  # fmt: skip
        rows["videos"].append(tuple(row.get(f.name) for f in VIDEOS.fields))
    _put_all(cfg, puts)
    # rows of these ids replaced (a rerun after a failed one writes them once), videos last:
    # a title counts as built only when all three tables have it
    where = "video_id IN (" + ", ".join(f"'{v}'" for v in ids) + ")"
    for name, schema in (("segments", SEGMENTS), ("renditions", RENDITIONS), ("videos", VIDEOS)):
        path = tables.ensure(spark, name)  # an older table gains the columns declared since
        df = spark.createDataFrame(rows[name], schema)
        df.write.format("delta").mode("overwrite").option("replaceWhere", where).save(path)
    return ids


def _put_all(cfg: Config, puts: list[tuple[str, bytes]]) -> None:
    """Write the objects with a few threads (each its own client); master playlists last."""
    from concurrent.futures import ThreadPoolExecutor

    from vodlake.lake import storage

    local = threading.local()

    def put(item: tuple[str, bytes]) -> None:
        if not hasattr(local, "store"):
            local.store = storage.Storage.from_config(cfg)
        local.store.put_bytes(item[1], item[0])

    body = [p for p in puts if not p[0].endswith("/master.m3u8")]
    entry = [p for p in puts if p[0].endswith("/master.m3u8")]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, body))
        list(pool.map(put, entry))
