"""Pure planning: where segments and chunks start, and which ladder rungs a source gets.

Why fixed-duration segments and not scene-cut snapping: every rendition of a ladder must have
identical segment boundaries (Apple's HLS authoring spec; DASH `segmentAlignment`), because a
player may switch rendition at any boundary and expects the next segment of the other rendition
to start exactly where the last one ended. Fixed boundaries are known before any encoding, so
every chunk of every rendition can be encoded independently (on different executors) and still
line up. Snapping boundaries to scene cuts (as Av1an does for chunks) would save some bits at
cuts but needs a scene-detection pass over the whole video first; it is left optional and is not
implemented here.

A chunk is a group of N whole segments, so every chunk boundary is also a segment boundary and
the encoded chunks can be joined without re-encoding. Only the last chunk (and its last
segment) is shorter.

When the frame rate is known, boundaries are planned in whole frames: a segment is
`ceil(segment_seconds * fps)` frames. Times in seconds then fall exactly on frame times, so an
encoder can force a keyframe by frame number and the DASH muxer (which cuts at the first
keyframe at least `segment_seconds` after the segment start) cuts exactly there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Rendition names become folder names and URI parts: keep them to a portable set.
RENDITION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class RungLike(Protocol):
    """A ladder rung: vodlake.config.Rung and plan.Rung both fit."""

    @property
    def name(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def bitrate_kbps(self) -> int: ...


@dataclass(frozen=True)
class Rung:
    """A rendition box: the encoder fits the picture inside width x height, keeping its shape."""

    name: str
    width: int
    height: int
    bitrate_kbps: int


@dataclass(frozen=True)
class Chunk:
    """One independently encodable time range made of whole segments.

    `start_frame`/`frames` are set when the plan was made with a frame rate; they are what the
    encoder checks its output against.
    """

    idx: int
    start_s: float
    duration_s: float
    first_segment: int
    segments: int
    start_frame: int | None = None
    frames: int | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def segment_frames(segment_seconds: float, fps: float) -> int:
    """Frames per segment: the smallest whole number of frames lasting >= segment_seconds."""
    if segment_seconds <= 0 or fps <= 0:
        raise ValueError("segment_seconds and fps must be positive")
    # The small epsilon keeps 4 s at 25 fps at 100 frames despite float noise.
    return max(1, math.ceil(segment_seconds * fps - 1e-6))


def plan_chunks(
    duration_s: float,
    segment_seconds: float = 4.0,
    segments_per_chunk: int = 8,
    fps: float | None = None,
) -> list[Chunk]:
    """Split [0, duration_s) into chunks of `segments_per_chunk` fixed-duration segments.

    Without `fps` the plan is in seconds. With `fps` it is in whole frames (see module doc): the
    source has `round(duration_s * fps)` frames and a segment has `segment_frames(...)` frames.
    """
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    if segments_per_chunk < 1:
        raise ValueError(f"segments_per_chunk must be >= 1, got {segments_per_chunk}")

    chunks: list[Chunk] = []
    if fps is not None:
        total = max(1, round(duration_s * fps))
        seg_f = segment_frames(segment_seconds, fps)
        chunk_f = seg_f * segments_per_chunk
        start = 0
        while start < total:
            frames = min(chunk_f, total - start)
            chunks.append(
                Chunk(
                    idx=len(chunks),
                    start_s=start / fps,
                    duration_s=frames / fps,
                    first_segment=start // seg_f,
                    segments=math.ceil(frames / seg_f),
                    start_frame=start,
                    frames=frames,
                )
            )
            start += frames
        return chunks

    chunk_s = segment_seconds * segments_per_chunk
    n_segments = math.ceil(duration_s / segment_seconds - 1e-9)
    first = 0
    while first < n_segments:
        count = min(segments_per_chunk, n_segments - first)
        start_s = first * segment_seconds
        chunks.append(
            Chunk(
                idx=len(chunks),
                start_s=start_s,
                duration_s=min(chunk_s, duration_s - start_s),
                first_segment=first,
                segments=count,
            )
        )
        first += count
    return chunks


def _even(x: float) -> int:
    """Round to the nearest even integer >= 2 (4:2:0 chroma needs even dimensions)."""
    return max(2, 2 * round(x / 2))


def _even_at_most(x: float, limit: int) -> int:
    """The nearest even integer >= 2, but never above `limit` (rounded down to even)."""
    out = _even(x)
    while out > limit and out > 2:
        out -= 2
    return out


def fit_size(source_w: int, source_h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest even size with the source's shape that fits inside box_w x box_h, never
    larger than the source (an odd 641x359 source becomes at most 640x358).

    A 16:9 source in a 16:9 box gives the box itself; a 4:3 source in 640x360 gives 480x360.
    """
    if min(source_w, source_h, box_w, box_h) <= 0:
        raise ValueError("sizes must be positive")
    scale = min(box_w / source_w, box_h / source_h, 1.0)
    return (
        _even_at_most(source_w * scale, min(box_w, source_w)),
        _even_at_most(source_h * scale, min(box_h, source_h)),
    )


def rung_box(source_w: int, source_h: int, rung: RungLike) -> tuple[int, int]:
    """The rung's box turned to the source's orientation.

    A ladder is written for landscape (1920x1080 ... 416x234); a portrait source (a phone held
    upright, 1080x1920 once rotated) gets the same boxes standing up, so its top rung is
    1080x1920 rather than a 608x1080 picture paid for at 1080p bitrate.
    """
    w, h = rung.width, rung.height
    if (source_h > source_w) != (h > w) and w != h:
        return h, w
    return w, h


def rung_size(source_w: int, source_h: int, rung: RungLike) -> tuple[int, int]:
    """The picture size a rung gets for this source: its shape, inside the oriented box."""
    return fit_size(source_w, source_h, *rung_box(source_w, source_h, rung))


def ladder_for(source_w: int, source_h: int, rungs: Sequence[RungLike]) -> list[RungLike]:
    """The rungs this source gets: never upscale.

    A rung is kept when fitting the source into its box (turned to the source's orientation,
    see `rung_box`) does not enlarge the picture. For a landscape source at least as wide as
    16:9 this is exactly "rung height <= source height"; a 1080x1920 phone video gets every
    rung, standing up. When no rung fits (a source smaller than the smallest rung), one rung at
    the source size (even dimensions) is returned, named `<height>p`, with the smallest rung's
    bitrate scaled by pixel count. Order follows `rungs`.
    """
    if source_w <= 0 or source_h <= 0:
        raise ValueError(f"bad source size {source_w}x{source_h}")
    if not rungs:
        raise ValueError("the ladder has no rungs")
    for r in rungs:
        if not RENDITION_NAME.match(r.name):
            raise ValueError(f"rung name {r.name!r} must match {RENDITION_NAME.pattern}")
    names = [r.name for r in rungs]
    if len(set(names)) != len(names):
        raise ValueError(f"rung names must be unique, got {names}")

    def scale(r: RungLike) -> float:
        box_w, box_h = rung_box(source_w, source_h, r)
        return min(box_w / source_w, box_h / source_h)

    kept = [r for r in rungs if scale(r) <= 1.0]
    if kept:
        return kept
    smallest = min(rungs, key=lambda r: r.width * r.height)
    w, h = _even_at_most(source_w, source_w), _even_at_most(source_h, source_h)
    kbps = max(1, round(smallest.bitrate_kbps * (w * h) / (smallest.width * smallest.height)))
    return [Rung(name=f"{min(w, h)}p", width=w, height=h, bitrate_kbps=kbps)]
