"""The media layer: probe, plan, encode, package and verify videos with ffmpeg.

Plain Python over files (no Spark), so the same functions run in tests, on a laptop and inside
Spark `mapPartitions` on executors. The flow for one video:

    info = inspect(path, limits, language=lang)         # probe + validate, MediaError if bad
    rungs = ladder_for(info.width, info.height, ladder)  # never upscale; portrait stands up
    chunks = plan_chunks(info.duration_s, seg, n, fps=info.fps)
    outputs = encode_chunk(path, chunk, rungs, settings, dir, info=info)   # per chunk, anywhere
    audio = encode_audio(path, dir / "audio.mp4", kbps, duration_s=info.duration_s)
    result = package(video_id, {rung: [chunk files in order]}, audio, rungs, seg, out_dir)

ProbeInfo carries what real uploads vary in (display size after rotation and pixel aspect,
the constant rate to encode at, colour and bit depth, interlacing, start times, the chosen
audio track), and encode_chunk/encode_audio turn any of it into upright, progressive, 8-bit
BT.709 SDR H.264 and stereo AAC aligned to the picture. ffmpeg always runs from an argument
list (never a shell) with file-only input protocols.
"""

from vodlake.media.encode import ChunkOutput, EncodeSettings, encode_audio, encode_chunk
from vodlake.media.package import PackageResult, SegmentFile, package
from vodlake.media.plan import Chunk, Rung, fit_size, ladder_for, plan_chunks, rung_size
from vodlake.media.probe import Limits, ProbeInfo, inspect, probe, validate
from vodlake.media.verify import keyframe_at_segment_starts, verify_playable

__all__ = [
    "Chunk",
    "ChunkOutput",
    "EncodeSettings",
    "Limits",
    "PackageResult",
    "ProbeInfo",
    "Rung",
    "SegmentFile",
    "encode_audio",
    "encode_chunk",
    "fit_size",
    "inspect",
    "keyframe_at_segment_starts",
    "ladder_for",
    "package",
    "plan_chunks",
    "probe",
    "rung_size",
    "validate",
    "verify_playable",
]
