"""Checks on a packaged video that a player would otherwise find the hard way.

`verify_playable` decodes every stream of an HLS master (or media) playlist or a DASH MPD end to
end with ffmpeg, through the demuxer a player-like client uses, and reports frames and duration
per stream. `keyframe_at_segment_starts` decodes the first frame of every video segment
(init + segment, as a player that just switched rendition would) and reports those that do not
start with a keyframe.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vodlake.errors import MediaError
from vodlake.media import _ff
from vodlake.media.package import expand_template, read_mpd


@dataclass(frozen=True)
class DecodedStream:
    index: int
    kind: str  # "video" or "audio"
    frames: int  # decoded frames (video) or decoded audio frames
    duration_s: float  # first presentation time to the end of the last frame
    width: int | None = None
    height: int | None = None
    samples: int | None = None  # audio samples decoded


def verify_playable(
    manifest: str | os.PathLike[str], timeout_s: float | None = None
) -> list[DecodedStream]:
    """Decode every video and audio stream of `manifest` (.m3u8 or .mpd) to the end.

    Raises MediaError when ffmpeg reports an error (a missing segment, a broken file) or when
    nothing decodes. Uses framecrc output so each decoded frame is one line to count.
    """
    cmd = [
        _ff.FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-xerror",
        "-protocol_whitelist", _ff.PROTOCOLS, "-i", _ff.abspath(manifest),
        "-map", "0:v?", "-map", "0:a?", "-f", "framecrc", "-",
    ]  # fmt: skip
    proc = _ff.run(cmd, f"decode {Path(manifest).name}", timeout_s=timeout_s)
    if proc.stderr.strip():
        raise MediaError(f"decode {Path(manifest).name}: {_ff.last_error(proc.stderr)}")

    tb: dict[int, Fraction] = {}
    kind: dict[int, str] = {}
    dims: dict[int, tuple[int, int]] = {}
    first: dict[int, int] = {}
    end: dict[int, int] = {}
    frames: dict[int, int] = {}
    samples: dict[int, int] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("#tb "):
            idx, _, value = line[4:].partition(":")
            num, _, den = value.strip().partition("/")
            tb[int(idx)] = Fraction(int(num), int(den))
        elif line.startswith("#media_type "):
            idx, _, value = line[12:].partition(":")
            kind[int(idx)] = value.strip()
        elif line.startswith("#dimensions "):
            idx, _, value = line[12:].partition(":")
            w, _, h = value.strip().partition("x")
            dims[int(idx)] = (int(w), int(h))
        elif line and not line.startswith("#"):
            parts = [p.strip() for p in line.split(",")]
            idx, pts, dur = int(parts[0]), int(parts[2]), int(parts[3])
            first.setdefault(idx, pts)
            end[idx] = max(end.get(idx, pts + dur), pts + dur)
            frames[idx] = frames.get(idx, 0) + 1
            if kind.get(idx) == "audio":
                samples[idx] = samples.get(idx, 0) + dur
    if not frames:
        raise MediaError(f"decode {Path(manifest).name}: no frame decoded")
    out = []
    for idx in sorted(frames):
        w, h = dims.get(idx, (None, None))
        out.append(
            DecodedStream(
                index=idx,
                kind=kind.get(idx, "unknown"),
                frames=frames[idx],
                duration_s=float((end[idx] - first[idx]) * tb.get(idx, Fraction(1))),
                width=w,
                height=h,
                samples=samples.get(idx),
            )
        )
    return out


def first_frame_is_keyframe(
    init: str | os.PathLike[str], segment: str | os.PathLike[str]
) -> tuple[bool, str]:
    """Decode the first frame of init + segment. Returns (is_key, picture type or reason)."""
    fd, joined = tempfile.mkstemp(suffix=".mp4", prefix="vodlake-seg-")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in (init, segment):
                out.write(Path(part).read_bytes())
        try:
            data = _ff.ffprobe_json(
                joined,
                "-select_streams", "v:0", "-read_intervals", "%+#1",
                "-show_entries", "frame=key_frame,pict_type",
                what=f"decode {Path(segment).name}",
            )  # fmt: skip
        except MediaError as exc:
            return False, exc.message
    finally:
        os.unlink(joined)
    decoded = data.get("frames") or []
    if not decoded:
        return False, "no frame decodes"
    f = decoded[0]
    pict = str(f.get("pict_type", "?"))
    return int(f.get("key_frame", 0)) == 1 and pict == "I", pict


def keyframe_at_segment_starts(mpd: str | os.PathLike[str]) -> list[str]:
    """Problems found: one line per video segment whose first frame is not a keyframe.

    An empty list means every segment of every video rendition starts with an I/IDR frame, so
    a player can start or switch rendition at any segment.
    """
    root = Path(mpd).parent
    problems = []
    checked = 0
    for rep in read_mpd(Path(mpd)):
        if rep["kind"] != "video":
            continue
        init = root / expand_template(rep["init"], rep["id"], 0)
        for number, _t, _d in rep["timeline"]:
            seg = root / expand_template(rep["media"], rep["id"], number)
            ok, what = first_frame_is_keyframe(init, seg)
            checked += 1
            if not ok:
                problems.append(f"{rep['id']} {seg.name}: first frame is {what}")
    if checked == 0:
        problems.append("no video segment found")
    return problems
