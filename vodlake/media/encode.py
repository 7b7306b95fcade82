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
from vodlake.media.plan import Chunk, RungLike, fit_size, segment_frames
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
    """The chunk's frames, exactly, as a constant-rate stream starting at time 0.

    Bounds sit half a frame before the boundary frames, so the frame at a boundary time is
    safely inside the range whatever rounding ffmpeg applies to microsecond timestamps. The
    input seek lands `seek_margin_s` earlier for containers without a keyframe index (see
    probe.seek_margin_s); the trim filter then drops the decoded lead-in.
    """
    half = 0.5 / info.fps
    seek = max(0.0, chunk.start_s - half - seek_margin_s(info)) if chunk.start_s > 0 else 0.0
    offset = chunk.start_s - seek  # where the chunk starts, relative to the seek point
    lead_in = offset - half if chunk.start_s > 0 else 0.0
    end = offset + chunk.duration_s - half
    kwargs: dict[str, Any] = {"protocol_whitelist": _ff.PROTOCOLS, "t": f"{end:.6f}"}
    if seek > 0:
        kwargs["ss"] = f"{seek:.6f}"
    video = ffmpeg.input(_ff.abspath(source), **kwargs).video
    if lead_in > 1e-6:
        video = video.filter("trim", start=f"{lead_in:.6f}")
    video = video.filter("setpts", "PTS-STARTPTS")  # every chunk starts at 0
    return video.filter("fps", fps=info.frame_rate)  # constant rate: frames = duration * fps


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

    outputs = []
    planned: list[tuple[RungLike, Path, Path, int, int]] = []
    for i, rung in enumerate(rungs):
        w, h = fit_size(info.width, info.height, rung.width, rung.height)
        final = out / chunk_file_name(rung.name, chunk.idx)
        tmp = out / f".{final.stem}.{_unique()}.part.mp4"
        stream = split.stream(i).filter("scale", w, h).filter("setsar", 1)
        outputs.append(ffmpeg.output(stream, str(tmp), **_video_args(rung, settings, seg_f, gop)))
        planned.append((rung, tmp, final, w, h))

    cmd = ffmpeg.merge_outputs(*outputs).overwrite_output().compile(cmd=_ff.FFMPEG)
    head = [cmd[0], "-nostdin", "-hide_banner", "-v", "error"]
    if settings.threads > 0:  # 0 lets ffmpeg and the encoders pick (not reproducible)
        head += ["-filter_complex_threads", str(settings.threads)]
    cmd = [*head, *cmd[1:]]
    what = f"encode chunk {chunk.idx} ({chunk.start_s:.3f}+{chunk.duration_s:.3f} s)"
    try:
        _ff.run(cmd, what, timeout_s=timeout_s)
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


def encode_audio(
    source: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    bitrate_kbps: int = 128,
    duration_s: float | None = None,
    info: ProbeInfo | None = None,
    timeout_s: float | None = None,
) -> str | None:
    """Encode the whole audio track once to AAC in MP4; None when the source has no audio.

    Audio is never chunked: AAC frames do not line up with video chunk boundaries, and
    joining separately encoded pieces adds priming gaps that drift. `duration_s` (the video
    duration) trims audio that runs past the picture.
    """
    info = info or probe(source)
    if not info.has_audio:
        return None
    final = Path(out_path)
    if final.suffix.lower() not in (".mp4", ".m4a"):
        raise MediaError(f"audio output must be .mp4 or .m4a, got {final.name}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{_unique()}.part{final.suffix}")
    in_kwargs: dict[str, Any] = {"protocol_whitelist": _ff.PROTOCOLS}
    if duration_s:
        in_kwargs["t"] = f"{duration_s:.6f}"
    src = ffmpeg.input(_ff.abspath(source), **in_kwargs)
    out = ffmpeg.output(
        src.audio,
        str(tmp),
        **{
            "c:a": "aac",
            "b:a": f"{bitrate_kbps}k",
            "ac": 2,  # stereo for every player; HLS audio groups expect it
            "vn": None,
            "sn": None,
            "dn": None,
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
