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
    rotation is 1080x1920 here, because ffmpeg rotates frames before our filters see them, and
    a 720x576 picture with 16:15 pixels is 768x576. `dar` is that shape as an exact ratio.
    `fps`/`frame_rate` are the constant rate the ladder is encoded at (see `output_rate`): the
    source's own rate when it is regular, a standard rate near its average when it is variable.
    `video_start_s`/`audio_start_s` are relative to the container's start (`start_s`), which
    is what ffmpeg's `-ss` counts from; `start_s + video_start_s` is the first picture's
    timestamp as stored.
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
    video_index: int = 0
    dar: str = "1/1"
    source_frame_rate: str = "0/1"  # the source's average rate, as probed
    pix_fmt: str | None = None
    bit_depth: int | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None
    color_space: str | None = None
    color_range: str | None = None
    field_order: str | None = None
    start_s: float = 0.0  # the container's start time (timestamps of the first packet)
    video_start_s: float = 0.0
    audio_index: int | None = None
    audio_streams: int = 0
    audio_channels: int | None = None
    audio_layout: str | None = None
    audio_language: str | None = None
    audio_start_s: float | None = None

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def interlaced(self) -> bool:
        return self.field_order in _INTERLACED

    @property
    def dynamic_range(self) -> str:
        """ "pq" (HDR10, SMPTE 2084), "hlg" (ARIB STD-B67) or "sdr"."""
        return _HDR_TRANSFERS.get(self.color_transfer or "", "sdr")

    @property
    def needs_color_conversion(self) -> bool:
        """HDR, or wide-gamut BT.2020 SDR: the 8-bit BT.709 ladder needs a real conversion
        (plain pixel-format conversion would keep the wrong primaries and curve)."""
        return self.dynamic_range != "sdr" or (self.color_primaries or "") == "bt2020"


_INTERLACED = ("tt", "bb", "tb", "bt")
_HDR_TRANSFERS = {"smpte2084": "pq", "arib-std-b67": "hlg"}


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


def _signed(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None


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


def _tag_duration(stream: dict[str, Any]) -> float | None:
    """Matroska keeps a stream's duration in a `DURATION` tag ("00:00:06.000000000")."""
    tags = {k.upper(): v for k, v in (stream.get("tags") or {}).items()}
    h, _, rest = str(tags.get("DURATION") or "").partition(":")
    m, _, sec = rest.partition(":")
    try:
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


# Rates a variable-rate source is snapped to when its average is within 1% of one (a phone's
# "29.87 fps" is 30 fps with jitter); a regular source keeps its own exact rate.
STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        "10", "12", "25/2", "15", "20", "24000/1001", "24", "25", "30000/1001", "30", "48",
        "50", "60000/1001", "60",
    )
)  # fmt: skip
MAX_FPS = 60


def output_rate(avg: Fraction | None, real: Fraction | None = None) -> Fraction | None:
    """The constant frame rate to encode a source at.

    The average rate, snapped to the nearest standard rate when within 1% (a phone's 29.87
    fps is 30 fps with jitter). When the average is not near one but the container's base rate
    (`r_frame_rate`) is a standard rate up to twice the average, that base rate: frames were
    dropped (a stutter) and the gaps are filled by repeating frames, keeping the motion's
    cadence. Halved until at most 60 fps (slow-motion captures); otherwise kept exact with a
    denominator of at most 1001.
    """
    rate = avg or real
    if rate is None:
        return None

    def near_standard(r: Fraction) -> Fraction | None:
        while r > MAX_FPS + Fraction(1, 2):
            r /= 2
        near = min(STANDARD_RATES, key=lambda s: abs(s - r))
        return near if abs(near - r) <= near / 100 else None

    snapped = near_standard(rate)
    if snapped is not None:
        return snapped
    if real is not None and real in STANDARD_RATES and rate < real <= 2 * rate:
        return real
    while rate > MAX_FPS + Fraction(1, 2):
        rate /= 2
    return rate.limit_denominator(1001)


# ISO 639-1 (two letters, what uploads carry) -> ISO 639-2 codes (what containers tag tracks
# with, bibliographic and terminologic forms).
_LANG3 = {
    "ar": ("ara",), "bg": ("bul",), "cs": ("ces", "cze"), "da": ("dan",), "de": ("deu", "ger"),
    "el": ("ell", "gre"), "en": ("eng",), "es": ("spa",), "fa": ("fas", "per"), "fi": ("fin",),
    "fr": ("fra", "fre"), "he": ("heb",), "hi": ("hin",), "hu": ("hun",), "id": ("ind",),
    "it": ("ita",), "ja": ("jpn",), "ko": ("kor",), "nl": ("nld", "dut"), "no": ("nor",),
    "pl": ("pol",), "pt": ("por",), "ro": ("ron", "rum"), "ru": ("rus",), "sk": ("slk", "slo"),
    "sv": ("swe",), "th": ("tha",), "tr": ("tur",), "uk": ("ukr",), "vi": ("vie",),
    "zh": ("zho", "chi"),
}  # fmt: skip


def language_codes(language: str | None) -> set[str]:
    """The codes a track tag may use for a catalog language ("en", "en-US", "eng" -> eng)."""
    base = (language or "").strip().lower().replace("_", "-").split("-")[0]
    if not base:
        return set()
    return {base, *_LANG3.get(base, ())}


def _track_language(stream: dict[str, Any]) -> str:
    return str((stream.get("tags") or {}).get("language", "")).lower()


def choose_audio(streams: list[dict[str, Any]], language: str | None = None) -> dict | None:
    """The audio track to encode: the first in the catalog's language (its default one if
    several are), else the track marked default, else the first."""
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not audios:
        return None

    def is_default(s: dict[str, Any]) -> bool:
        return bool((s.get("disposition") or {}).get("default"))

    codes = language_codes(language)
    if codes:
        mine = [s for s in audios if _track_language(s) in codes]
        if mine:
            return next((s for s in mine if is_default(s)), mine[0])
    return next((s for s in audios if is_default(s)), audios[0])


def _bit_depth(stream: dict[str, Any]) -> int | None:
    raw = _int(stream.get("bits_per_raw_sample"))
    if raw:
        return raw
    fmt = str(stream.get("pix_fmt") or "")
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in fmt:
            return depth
    return 8 if fmt else None


def _display(stream: dict[str, Any], rotation: int) -> tuple[int, int, Fraction]:
    """Display width, height and exact aspect ratio: pixel aspect applied, then rotation."""
    width, height = _int(stream.get("width")) or 0, _int(stream.get("height")) or 0
    if not width or not height:
        return width, height, Fraction(1)
    sar = _rate(str(stream.get("sample_aspect_ratio") or "").replace(":", "/")) or Fraction(1)
    dar = Fraction(width, height) * sar
    if sar != 1:
        width = max(2, round(width * sar))
    if rotation in (90, 270):
        width, height, dar = height, width, 1 / dar
    return width, height, dar


def from_ffprobe(
    data: dict[str, Any], path: str, size: int, language: str | None = None
) -> ProbeInfo:
    """Build ProbeInfo from `ffprobe -show_format -show_streams` JSON (pure, no I/O)."""
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    # Cover art in music files is a "video" stream with the attached_pic disposition: not video.
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    v = videos[0] if videos else {}
    a = choose_audio(streams, language) or {}

    rotation = _rotation(v) if v else 0
    width, height, dar = _display(v, rotation)
    avg = _rate(v.get("avg_frame_rate"))
    rate = output_rate(avg, _rate(v.get("r_frame_rate")))
    format_name = str(fmt.get("format_name") or "")
    still = bool(v) and (
        format_name.endswith("_pipe") or format_name == "image2" or (_int(v.get("nb_frames")) == 1)
    )
    start = _signed(fmt.get("start_time")) or 0.0
    v_start = max(0.0, (_signed(v.get("start_time")) or start) - start) if v else 0.0
    a_start = (_signed(a.get("start_time")) or start) - start if a else None
    # The video stream's duration: audio running longer must not stretch the plan.
    duration = _float(v.get("duration")) or _tag_duration(v)
    if not duration and _float(fmt.get("duration")):
        duration = max(0.0, float(fmt["duration"]) - v_start) or None
    tags = a.get("tags") or {}
    return ProbeInfo(
        path=path,
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
        video_index=_int(v.get("index")) or 0,
        dar=f"{dar.numerator}/{dar.denominator}",
        source_frame_rate=f"{avg.numerator}/{avg.denominator}" if avg else "0/1",
        pix_fmt=v.get("pix_fmt"),
        bit_depth=_bit_depth(v) if v else None,
        color_primaries=v.get("color_primaries"),
        color_transfer=v.get("color_transfer"),
        color_space=v.get("color_space"),
        color_range=v.get("color_range"),
        field_order=v.get("field_order"),
        start_s=round(start, 6),
        video_start_s=round(v_start, 6),
        audio_index=_int(a.get("index")) if a else None,
        audio_streams=sum(1 for s in streams if s.get("codec_type") == "audio"),
        audio_channels=_int(a.get("channels")) if a else None,
        audio_layout=a.get("channel_layout") if a else None,
        audio_language=tags.get("language") if a else None,
        audio_start_s=round(a_start, 6) if a_start is not None else None,
    )


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


def probe(path: str | os.PathLike[str], language: str | None = None) -> ProbeInfo:
    """Read container and stream facts with ffprobe (file protocol only, no shell).

    `language` (the catalog's, ISO 639-1) picks the audio track when there are several.
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
    return from_ffprobe(data, str(p.resolve()), size, language)


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
    end = info.video_start_s + (info.duration_s or 0.0)
    start = max(0.0, end - tail_s - seek_margin_s(info))
    cmd = [
        _ff.FFMPEG, "-nostdin", "-hide_banner", "-v", "error",
        "-protocol_whitelist", _ff.PROTOCOLS,
        "-ss", f"{start:.6f}", "-i", _ff.abspath(info.path),
        "-map", f"0:{info.video_index}", "-f", "framecrc", "-",
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
    path: str | os.PathLike[str],
    limits: LimitsLike,
    decode_check: bool = True,
    language: str | None = None,
) -> ProbeInfo:
    """probe + validate: the one call an ingest step needs."""
    return validate(probe(path, language), limits, decode_check=decode_check)
