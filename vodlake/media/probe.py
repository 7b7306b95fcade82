"""Inspect an upload with ffprobe and reject what the pipeline cannot turn into a stream.

Every rejection is a MediaError whose message is a short human reason; it is what the catalog
records as the `failed` reason, so it must say what is wrong with the file, not where the code
stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from vodlake.errors import MediaError
from vodlake.media import _ff

_UPLOAD_HINT = "upload a complete video file (MP4, MOV, MKV or WebM)"


class LimitsLike(Protocol):
    """vodlake.config.LimitsConf and probe.Limits both fit."""

    @property
    def max_width(self) -> int: ...
    @property
    def max_height(self) -> int: ...
    @property
    def max_duration_s(self) -> float: ...
    @property
    def max_bytes(self) -> int: ...


@dataclass(frozen=True)
class Limits:
    max_width: int = 3840
    max_height: int = 2160
    max_duration_s: float = 4 * 3600.0
    max_bytes: int = 20 * 1024**3


@dataclass(frozen=True)
class ProbeInfo:
    """What the pipeline needs to know about a source.

    width/height are the *display* size: a phone video stored 1920x1080 with a 90 degree
    rotation is 1080x1920 here, because ffmpeg rotates frames before our filters see them.
    Video fields are 0/None when the file has no video stream (validate rejects it).
    """

    path: str
    duration_s: float | None
    width: int
    height: int
    fps: float
    frame_rate: str  # the exact rational, e.g. "30000/1001", for ffmpeg's fps filter
    video_codec: str | None
    has_audio: bool
    audio_codec: str | None
    size_bytes: int
    format_name: str
    bit_rate: int | None
    nb_frames: int | None = None
    rotation: int = 0
    still_image: bool = False

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None


def _rate(text: str | None) -> Fraction | None:
    try:
        num, _, den = (text or "").partition("/")
        value = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and out >= 0 else None  # drop NaN and negatives


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rotation(stream: dict[str, Any]) -> int:
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            return round(float(sd["rotation"])) % 360
    return (_int((stream.get("tags") or {}).get("rotate")) or 0) % 360


def _container_guess(path: Path) -> str | None:
    """Name the container from its magic bytes, to tell a damaged video from a non-video."""
    with path.open("rb") as fh:
        head = fh.read(1024)
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return "MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:1] == b"\x47" and len(head) > 188 and head[188:189] == b"\x47":
        return "MPEG-TS"
    return None


def probe(path: str | os.PathLike[str]) -> ProbeInfo:
    """Read container and stream facts with ffprobe (file protocol only, no shell).

    Raises MediaError when the file is missing, empty or not readable as media at all.
    """
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"file not found: {p.name}", hint="check the upload path")
    size = p.stat().st_size
    if size == 0:
        raise MediaError("empty file (0 bytes)", hint=_UPLOAD_HINT)
    try:
        data = _ff.ffprobe_json(p, "-show_format", "-show_streams", what="ffprobe")
    except MediaError as exc:
        reason = exc.message.removeprefix("ffprobe: ")
        container = _container_guess(p)
        if container:
            raise MediaError(
                f"truncated or damaged {container} file: {reason}", hint=_UPLOAD_HINT
            ) from None
        raise MediaError(
            f"not a video: format not recognised ({reason})", hint=_UPLOAD_HINT
        ) from None

    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    # Cover art in music files is a "video" stream with the attached_pic disposition: not video.
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    v = videos[0] if videos else {}
    a = audios[0] if audios else {}

    width, height = _int(v.get("width")) or 0, _int(v.get("height")) or 0
    sar = _rate(v.get("sample_aspect_ratio"))
    if width and sar and sar != 1:
        width = max(2, round(width * sar))
    rotation = _rotation(v) if v else 0
    if rotation in (90, 270):
        width, height = height, width

    rate = _rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate"))
    format_name = str(fmt.get("format_name") or "")
    still = bool(v) and (
        format_name.endswith("_pipe") or format_name == "image2" or (_int(v.get("nb_frames")) == 1)
    )
    # Prefer the video stream's duration: audio running longer must not stretch the plan.
    duration = _float(v.get("duration")) or _float(fmt.get("duration"))
    return ProbeInfo(
        path=str(p.resolve()),
        duration_s=duration,
        width=width,
        height=height,
        fps=float(rate) if rate else 0.0,
        frame_rate=f"{rate.numerator}/{rate.denominator}" if rate else "0/1",
        video_codec=v.get("codec_name") if v else None,
        has_audio=bool(a),
        audio_codec=a.get("codec_name") if a else None,
        size_bytes=size,
        format_name=format_name,
        bit_rate=_int(fmt.get("bit_rate")),
        nb_frames=_int(v.get("nb_frames")),
        rotation=rotation,
        still_image=still,
    )


def validate(info: ProbeInfo, limits: LimitsLike, decode_check: bool = True) -> ProbeInfo:
    """Reject what cannot become a stream; return `info` unchanged when it can.

    The decode check decodes the last second of video (cheap: at most a GOP plus a second),
    which catches files whose index promises more frames than the file holds.
    """
    if info.size_bytes == 0:
        raise MediaError("empty file (0 bytes)", hint=_UPLOAD_HINT)
    if not info.has_video:
        what = "audio only" if info.has_audio else "no audio either"
        raise MediaError(f"not a video: no video stream ({what})", hint=_UPLOAD_HINT)
    if info.still_image:
        raise MediaError(f"not a video: a still image ({info.video_codec})", hint=_UPLOAD_HINT)
    if info.width <= 0 or info.height <= 0:
        raise MediaError("not a video: the video stream has no picture size", hint=_UPLOAD_HINT)
    if info.fps <= 0:
        raise MediaError("not a video: the video stream has no frame rate", hint=_UPLOAD_HINT)
    if not info.duration_s:
        raise MediaError("truncated or damaged: duration unknown", hint=_UPLOAD_HINT)

    if info.size_bytes > limits.max_bytes:
        raise MediaError(
            f"too large: {info.size_bytes} bytes exceeds the limit of {limits.max_bytes} bytes",
            hint="upload a smaller file or raise transcode.limits.max_bytes",
        )
    if info.width > limits.max_width:
        raise MediaError(
            f"resolution too high: width {info.width} px exceeds the limit of "
            f"{limits.max_width} px",
            hint="upload a lower resolution or raise transcode.limits.max_width",
        )
    if info.height > limits.max_height:
        raise MediaError(
            f"resolution too high: height {info.height} px exceeds the limit of "
            f"{limits.max_height} px",
            hint="upload a lower resolution or raise transcode.limits.max_height",
        )
    if info.duration_s > limits.max_duration_s:
        raise MediaError(
            f"too long: duration {info.duration_s:.1f} s exceeds the limit of "
            f"{limits.max_duration_s:.1f} s",
            hint="split the video or raise transcode.limits.max_duration_s",
        )
    if decode_check:
        check_tail_decodes(info)
    return info


# Containers whose index lists keyframes, so an input seek starts decoding at a keyframe.
_INDEXED = ("mov", "mp4", "matroska", "webm")
# Elsewhere (MPEG-TS, raw streams) a seek lands anywhere and frames until the next keyframe are
# lost; seeking this much earlier and dropping the lead-in covers GOPs up to this long.
SEEK_MARGIN_S = 10.0


def seek_margin_s(info: ProbeInfo) -> float:
    """How much earlier than a target time to seek in this file (0 for indexed containers)."""
    names = info.format_name.split(",")
    return 0.0 if any(n in _INDEXED for n in names) else SEEK_MARGIN_S


def check_tail_decodes(info: ProbeInfo, tail_s: float = 1.0) -> int:
    """Decode the last `tail_s` seconds of video; raise MediaError if the file ends early.

    Returns the number of frames decoded. A truncated MP4 whose index sits at the front
    ("faststart") probes fine with its full duration, but its last frames are missing: ffmpeg
    then reports a "partial file" or decodes nothing.
    """
    start = max(0.0, (info.duration_s or 0.0) - tail_s - seek_margin_s(info))
    cmd = [
        _ff.FFMPEG, "-nostdin", "-hide_banner", "-v", "error",
        "-protocol_whitelist", _ff.PROTOCOLS,
        "-ss", f"{start:.6f}", "-i", _ff.abspath(info.path),
        "-map", "0:v:0", "-f", "framecrc", "-",
    ]  # fmt: skip
    proc = _ff.run(cmd, "truncated or damaged: the video does not decode", hint=_UPLOAD_HINT)
    frames = sum(1 for ln in proc.stdout.splitlines() if ln and not ln.startswith("#"))
    if "partial file" in proc.stderr:
        raise MediaError(
            "truncated: the file ends before its last frames (partial file)", hint=_UPLOAD_HINT
        )
    if frames == 0:
        detail = f" ({_ff.last_error(proc.stderr)})" if proc.stderr.strip() else ""
        raise MediaError(
            f"truncated: no frame decodes in the last {tail_s:g} s of the stated "
            f"{info.duration_s or 0:.1f} s{detail}",
            hint=_UPLOAD_HINT,
        )
    return frames


def inspect(
    path: str | os.PathLike[str], limits: LimitsLike, decode_check: bool = True
) -> ProbeInfo:
    """probe + validate: the one call an ingest step needs."""
    return validate(probe(path), limits, decode_check=decode_check)
