"""A small real catalog for delivery runs (tests and `vodlake loop`): generated clips, uploaded
and transcoded by the real pipeline.

Titles are real transcodes (H.264 fMP4 HLS/DASH on the config's origin) so players and edges
move real segments; the clips are short and low resolution to keep runs fast on a loaded box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vodlake.config import Config

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
