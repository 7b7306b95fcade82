"""Encode one chunk of a source into every ladder rung, and the audio once per video.

One ffmpeg process per chunk decodes the time range once and feeds every rung through a
split + scale filter graph (decoding is a large share of the cost at 1080p). Rate control is
capped constant quality (CRF with maxrate/bufsize): measured on this kind of machine, 1-pass
fixed bitrate lost 2.47 dB PSNR after each chunk boundary where CRF lost 0.22 dB.

What makes chunks joinable without re-encoding (package.py concatenates them):
- boundaries are whole segments in whole frames (plan.py), and the chunk is cut frame exactly;
- a keyframe starts every segment: the GOP length divides the segment length (so keyframes land
  on boundaries even for encoders that ignore forced keyframes, like SVT-AV1 1.4) and, for x264,
  a keyframe is also forced by frame number; scene-cut keyframes and open GOPs are off;
- every chunk of a rung uses identical settings (profile, pix_fmt yuv420p, size, GOP), so all
  chunks share the same parameter sets;
- output is MP4 with timestamps starting at 0, which the concat demuxer joins losslessly.
Outputs are byte-for-byte reproducible with threads=1 (bitexact flags, no metadata), so a retried
chunk produces the same bytes as the first attempt.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from vodlake.errors import MediaError
from vodlake.media import _ff
from vodlake.media.plan import Chunk, RungLike, rung_size, segment_frames
from vodlake.media.probe import ProbeInfo, probe, seek_margin_s

# SVT-AV1 takes a number (0 slowest .. 13 fastest); accept x264 names too so one config works.
_SVT_PRESETS = {
    "placebo": 1, "veryslow": 2, "slower": 4, "slow": 5, "medium": 7, "fast": 8,
    "faster": 9, "veryfast": 10, "superfast": 11, "ultrafast": 12,
}  # fmt: skip


@dataclass(frozen=True)
class EncodeSettings:
    """The `transcode` section's encoder fields (see vodlake.config.TranscodeConf)."""

    codec: Literal["h264", "av1"] = "h264"
    crf: int = 23
    preset: str = "veryfast"
    maxrate_factor: float = 1.1
    bufsize_factor: float = 2.0
    # Threads per encoder (each rung has its own). 1 keeps outputs byte-reproducible; 0 = auto.
    threads: int = 1
    segment_seconds: float = 4.0
    # Apple's HLS authoring spec asks for a keyframe at least every 2 s.
    max_keyframe_interval_s: float = 2.0

    @classmethod
    def from_config(cls, transcode: Any) -> EncodeSettings:
        """Build from vodlake.config.TranscodeConf (or anything with the same attributes)."""
        return cls(
            codec=transcode.codec,
            crf=transcode.crf,
            preset=transcode.preset,
            maxrate_factor=transcode.maxrate_factor,
            bufsize_factor=transcode.bufsize_factor,
            threads=transcode.threads_per_unit,
            segment_seconds=transcode.segment_seconds,
        )


@dataclass(frozen=True)
class ChunkOutput:
    rung_name: str
    path: str
    frames: int
    bytes: int
    width: int
    height: int


def _unique() -> str:
    """A temp-name part no concurrent attempt shares (Spark may run a task twice at once)."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def chunk_file_name(rung_name: str, chunk_idx: int) -> str:
    """Portable names, so the concat demuxer's safe mode accepts them."""
    return f"{rung_name}_{chunk_idx:05d}.mp4"


def gop_frames(segment_frames_: int, fps: float, max_interval_s: float) -> int:
    """The largest divisor of the segment length not longer than max_interval_s (in frames,
    rounded: 2 s at 29.97 fps is the customary 60-frame GOP).

    Keyframes at multiples of it fall on every segment start, whatever the encoder does with
    forced keyframes.
    """
    limit = max(1, round(max_interval_s * fps))
    if segment_frames_ <= limit:
        return segment_frames_
    return max(d for d in range(1, limit + 1) if segment_frames_ % d == 0)


def _video_args(rung: RungLike, settings: EncodeSettings, seg_f: int, gop: int) -> dict[str, Any]:
    kbps = rung.bitrate_kbps
    common: dict[str, Any] = {
        "crf": settings.crf,
        "maxrate": f"{max(1, round(kbps * settings.maxrate_factor))}k",
        "bufsize": f"{max(1, round(kbps * settings.bufsize_factor))}k",
        "g": gop,
        "pix_fmt": "yuv420p",
        "an": None,
        "sn": None,
        "dn": None,
        "map_metadata": -1,
        "map_chapters": -1,
        "fflags": "+bitexact",
        "flags:v": "+bitexact",
    }
    if settings.codec == "h264":
        return {
            **common,
            "c:v": "libx264",
            "preset": settings.preset,
            "profile:v": "high",
            "threads": settings.threads,
            "force_key_frames": f"expr:eq(mod(n,{seg_f}),0)",
            "x264-params": "scenecut=0:open-gop=0",
        }
    if settings.codec == "av1":
        preset = settings.preset
        svt_preset = int(preset) if preset.lstrip("-").isdigit() else _SVT_PRESETS.get(preset)
        if svt_preset is None:
            raise MediaError(f"unknown AV1 preset {preset!r}", hint="use 0..13 or an x264 name")
        params = "scd=0" + (f":lp={settings.threads}" if settings.threads > 0 else "")
        return {**common, "c:v": "libsvtav1", "preset": svt_preset, "svtav1-params": params}
    raise MediaError(f"unknown codec {settings.codec!r}", hint="transcode.codec: h264 or av1")


def _cut(source: str | os.PathLike[str], chunk: Chunk, info: ProbeInfo) -> Any:
    """The chunk's frames, exactly, as an upright, progressive, constant-rate, SDR stream
    starting at time 0.

    Timestamps are kept as stored (`-copyts`) and the range is cut by absolute times computed
    from the probe (`start_s + video_start_s` is the first picture): ffmpeg's own time origin
    moves with the streams a command uses for some containers (MPEG-TS), so relative times
    would be off by the audio's lead. Bounds sit half a frame before the boundary frames, so
    the frame at a boundary time is safely inside the range whatever rounding ffmpeg applies
    to microsecond timestamps. The input seek lands `seek_margin_s` earlier for containers
    without a keyframe index (see probe.seek_margin_s); the trim filter then drops the decoded
    lead-in. ffmpeg applies the rotation metadata itself (autorotate) before these filters;
    interlaced sources are deinterlaced before the rate conversion, and the `fps` filter turns
    a variable rate into the planned constant one.
    """
    half = 0.5 / info.fps
    start = info.video_start_s + chunk.start_s  # relative to the container's start
    end = start + chunk.duration_s - half
    seek = max(0.0, start - half - seek_margin_s(info)) if chunk.start_s > 0 else 0.0
    kwargs: dict[str, Any] = {
        "protocol_whitelist": _ff.PROTOCOLS,
        "copyts": None,
        "t": f"{end - seek:.6f}",  # stop reading here (counted from the seek point)
    }
    if seek > 0:
        kwargs["ss"] = f"{seek:.6f}"
    video = ffmpeg.input(_ff.abspath(source), **kwargs)[str(info.video_index)]
    first = info.start_s + start - half
    video = video.filter("trim", start=f"{first:.6f}", end=f"{info.start_s + end:.6f}")
    video = video.filter("setpts", "PTS-STARTPTS")  # every chunk starts at 0
    if info.interlaced:  # one frame per frame (not per field): the planned rate stays
        video = video.filter("bwdif", mode="send_frame", parity="auto", deint="all")
    video = video.filter("fps", fps=info.frame_rate)  # constant rate: frames = duration * fps
    return _to_sdr(video, info)


def _to_sdr(video: Any, info: ProbeInfo) -> Any:
    """BT.2020 and HDR sources -> 8-bit BT.709 SDR, with tone mapping for PQ and HLG.

    zscale (libzimg, in Debian 12's ffmpeg 5.1 beside `tonemap` and `colorspace`) converts
    transfer, primaries and matrix properly; `tonemap` compresses the linear HDR light into
    SDR range (hable, no desaturation). Plain 8-bit or 10-bit BT.709 needs none of this: the
    encoder's yuv420p conversion is enough. Without zscale (an ffmpeg built without libzimg)
    wide-gamut SDR falls back to the `colorspace` filter, which has no PQ or HLG curve, so an
    HDR source then fails with that reason rather than coming out washed out.
    """
    if not info.needs_color_conversion:
        return video
    if not _ff.has_filter("zscale"):
        if info.dynamic_range != "sdr":
            raise MediaError(
                f"HDR ({info.dynamic_range}) source: tone mapping needs ffmpeg's zscale filter, "
                "which this ffmpeg lacks",
                hint="install an ffmpeg built with libzimg (Debian's ffmpeg package is)",
            )
        return video.filter("colorspace", all="bt709", iall="bt2020", format="yuv420p", fast=0)
    src = {
        "pin": info.color_primaries or "bt2020",
        "min": info.color_space if info.color_space in _ZIMG_MATRICES else "bt2020nc",
        "rin": "pc" if info.color_range == "pc" else "tv",
    }
    if info.dynamic_range == "sdr":
        tin = info.color_transfer if info.color_transfer in _ZIMG_TRANSFERS else "bt2020-10"
        return video.filter(
            "zscale", tin=tin, **src, t="bt709", p="bt709", m="bt709", r="tv"
        ).filter("format", "yuv420p")
    tin = "smpte2084" if info.dynamic_range == "pq" else "arib-std-b67"
    return (
        video.filter("zscale", tin=tin, **src, t="linear", npl=100)
        .filter("format", "gbrpf32le")
        .filter("zscale", p="bt709")
        .filter("tonemap", tonemap="hable", desat=0)
        .filter("zscale", t="bt709", m="bt709", r="tv")
        .filter("format", "yuv420p")
    )


_ZIMG_MATRICES = ("bt2020nc", "bt2020c", "bt709", "bt470bg", "smpte170m")
_ZIMG_TRANSFERS = ("bt709", "bt2020-10", "bt2020-12", "smpte170m")
# What converted outputs are tagged with, so players do not guess.
_BT709_TAGS = {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709"}


def _expected_frames(chunk: Chunk, info: ProbeInfo) -> int:
    return chunk.frames if chunk.frames is not None else round(chunk.duration_s * info.fps)


def encode_chunk(
    source: str | os.PathLike[str],
    chunk: Chunk,
    rungs: Sequence[RungLike],
    settings: EncodeSettings,
    out_dir: str | os.PathLike[str],
    info: ProbeInfo | None = None,
    timeout_s: float | None = None,
) -> list[ChunkOutput]:
    """Encode `chunk` of `source` into one video-only MP4 per rung, in `out_dir`.

    `info` avoids a second probe when the caller has it. Files are written under a temporary
    name and renamed only after each output's frame count matches the chunk (within one
    frame, like Av1an's check); otherwise a MediaError is raised and nothing is left behind.
    """
    if not rungs:
        raise MediaError("nothing to encode: the ladder is empty")
    info = info or probe(source)
    if info.fps <= 0 or not info.width or not info.height:
        raise MediaError("not a video: no usable video stream")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    fps = info.fps
    seg_f = segment_frames(settings.segment_seconds, fps)
    gop = gop_frames(seg_f, fps, settings.max_keyframe_interval_s)
    expected = _expected_frames(chunk, info)
    video = _cut(source, chunk, info)
    split = video.filter_multi_output("split", len(rungs))
    tags = _BT709_TAGS if info.needs_color_conversion else {}

    outputs = []
    planned: list[tuple[RungLike, Path, Path, int, int]] = []
    for i, rung in enumerate(rungs):
        w, h = rung_size(info.width, info.height, rung)
        final = out / chunk_file_name(rung.name, chunk.idx)
        tmp = out / f".{final.stem}.{_unique()}.part.mp4"
        stream = split.stream(i).filter("scale", w, h).filter("setsar", 1)
        args = {**_video_args(rung, settings, seg_f, gop), **tags}
        outputs.append(ffmpeg.output(stream, str(tmp), **args))
        planned.append((rung, tmp, final, w, h))

    cmd = ffmpeg.merge_outputs(*outputs).overwrite_output().compile(cmd=_ff.FFMPEG)
    head = [cmd[0], "-nostdin", "-hide_banner", "-v", "error"]
    if settings.threads > 0:  # 0 lets ffmpeg and the encoders pick (not reproducible)
        head += ["-filter_complex_threads", str(settings.threads)]
    if seek_margin_s(info) == 0:
        # An indexed container: decoding starts on a keyframe, so any packet that fails to
        # decode is damage: fail (exit code 69 after the run) rather than publish frames the
        # decoder concealed. (A stream without an index, such as MPEG-TS cut from a broadcast,
        # may begin mid-GOP, and a seek in it lands anywhere: ffmpeg's default rate applies.)
        head += ["-max_error_rate", "0"]
    cmd = [*head, *cmd[1:]]
    what = f"encode chunk {chunk.idx} ({chunk.start_s:.3f}+{chunk.duration_s:.3f} s)"
    try:
        proc = _ff.run(cmd, what, timeout_s=timeout_s, ok_codes=(0, 69))
        if proc.returncode == 69 or _ff.decode_errors(proc.stderr):
            raise MediaError(
                f"damaged source: {_ff.decode_errors(proc.stderr) or 'some'} packet(s) between "
                f"{chunk.start_s:.3f} s and {chunk.end_s:.3f} s do not decode "
                f"({_ff.first_error(proc.stderr)})",
                hint="upload the original file again; this copy is damaged in that range",
            )
        results = []
        for rung, tmp, final, w, h in planned:
            frames = _ff.count_video_packets(tmp)
            if abs(frames - expected) > 1:
                raise MediaError(
                    f"{what}: rung {rung.name} has {frames} frames, expected {expected}",
                    hint="the source may be damaged in this range",
                )
            results.append((rung, tmp, final, w, h, frames))
    except BaseException:
        for _, tmp, *_rest in planned:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    outputs_done = []
    for rung, tmp, final, w, h, frames in results:
        os.replace(tmp, final)
        outputs_done.append(ChunkOutput(rung.name, str(final), frames, final.stat().st_size, w, h))
    return outputs_done


def _aligned_audio(stream: Any, info: ProbeInfo, duration_s: float | None) -> Any:
    """The audio track on the video's clock: time 0 is the first picture, not the container's
    start; silence fills a late start and gaps; what runs before or past the picture is cut,
    and a short track is padded with silence to `duration_s`."""
    first_picture = info.start_s + info.video_start_s  # as stored (the input uses -copyts)
    stream = stream.filter("asetpts", f"PTS-({first_picture:.6f})/TB")
    stream = stream.filter("aresample", **{"async": 1, "first_pts": 0})
    if duration_s:
        stream = stream.filter("apad", whole_dur=f"{duration_s:.6f}")
        stream = stream.filter("atrim", end=f"{duration_s:.6f}")
    return stream


def encode_audio(
    source: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    bitrate_kbps: int = 128,
    duration_s: float | None = None,
    info: ProbeInfo | None = None,
    timeout_s: float | None = None,
) -> str | None:
    """Encode the chosen audio track once to stereo AAC in MP4; None when there is no audio.

    Audio is never chunked: AAC frames do not line up with video chunk boundaries, and
    joining separately encoded pieces adds priming gaps that drift. The track is the one
    probe chose (`info.audio_index`: the catalog's language, else the default track); any
    layout (mono, 5.1, 7.1) is mixed to stereo, which every player and HLS audio group
    expects. `duration_s` (the video duration) makes the track exactly as long as the picture.
    """
    info = info or probe(source)
    if not info.has_audio:
        return None
    final = Path(out_path)
    if final.suffix.lower() not in (".mp4", ".m4a"):
        raise MediaError(f"audio output must be .mp4 or .m4a, got {final.name}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{_unique()}.part{final.suffix}")
    src = ffmpeg.input(_ff.abspath(source), protocol_whitelist=_ff.PROTOCOLS, copyts=None)
    stream = src[str(info.audio_index)] if info.audio_index is not None else src.audio
    out = ffmpeg.output(
        _aligned_audio(stream, info, duration_s),
        str(tmp),
        **{
            "c:a": "aac",
            "b:a": f"{bitrate_kbps}k",
            "ac": 2,
            "map_metadata": -1,
            "map_chapters": -1,
            "fflags": "+bitexact",
            "flags:a": "+bitexact",
        },
    )
    cmd = out.overwrite_output().compile(cmd=_ff.FFMPEG)
    cmd = [cmd[0], "-nostdin", "-hide_banner", "-v", "error", *cmd[1:]]
    try:
        _ff.run(cmd, "encode audio", timeout_s=timeout_s)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.replace(tmp, final)
    return str(final)
