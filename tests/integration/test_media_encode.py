"""encode_chunk/encode_audio with real ffmpeg on tiny clips: frame counts, frame-exact cuts,
keyframes on segment boundaries, atomic outputs and clear failures."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.media_fixtures import Samples
from vodlake.config import TranscodeConf
from vodlake.errors import MediaError
from vodlake.media.encode import EncodeSettings, encode_audio, encode_chunk, gop_frames
from vodlake.media.plan import Chunk, Rung, plan_chunks
from vodlake.media.probe import probe

RUNGS = [Rung("144p", 256, 144, 150), Rung("180p", 320, 180, 300)]
SETTINGS = EncodeSettings(segment_seconds=2, threads=1)


def _packets(path: str | Path) -> list[tuple[float, bool]]:
    """(pts seconds, is keyframe) of every video packet, in presentation order."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts_time,flags", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    packets = json.loads(out)["packets"]
    return sorted((float(p["pts_time"]), p["flags"].startswith("K")) for p in packets)


def _gray_frames(path: str | Path, w: int, h: int, select: str | None = None) -> np.ndarray:
    """Decoded luma planes, one row per frame (optionally only frames matching `select`)."""
    vf = f"select='{select}'," if select else ""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"{vf}scale={w}:{h},format=gray",
         "-fps_mode", "passthrough", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, w * h).astype(np.float64)


def test_settings_from_the_transcode_config() -> None:
    conf = TranscodeConf(codec="av1", crf=30, preset="8", threads_per_unit=2, segment_seconds=6)
    s = EncodeSettings.from_config(conf)
    assert (s.codec, s.crf, s.preset, s.threads, s.segment_seconds) == ("av1", 30, "8", 2, 6.0)
    assert (s.maxrate_factor, s.bufsize_factor) == (1.1, 2.0)


def test_gop_divides_the_segment() -> None:
    assert gop_frames(100, 25, 2.0) == 50
    assert gop_frames(50, 25, 2.0) == 50
    assert gop_frames(120, 30000 / 1001, 2.0) == 60
    assert gop_frames(125, 25, 2.0) == 25  # 5 s segments: 1 s GOP keeps boundaries on keyframes


def test_every_rung_gets_the_chunk_frames_and_keyframes_on_segments(
    samples: Samples, tmp_path: Path
) -> None:
    info = probe(samples.clip9)
    chunk = plan_chunks(info.duration_s or 0, 2, 2, fps=info.fps)[1]  # frames 100..199
    outs = encode_chunk(samples.clip9, chunk, RUNGS, SETTINGS, tmp_path, info=info)

    assert [o.rung_name for o in outs] == ["144p", "180p"]
    assert [(o.width, o.height) for o in outs] == [(256, 144), (320, 180)]
    for o in outs:
        assert o.frames == 100
        assert Path(o.path).stat().st_size == o.bytes > 0
        packets = _packets(o.path)
        assert len(packets) == 100
        assert packets[0][0] == 0.0  # each chunk starts at time 0
        keys = [t for t, k in packets if k]
        assert keys == [0.0, 2.0]  # a keyframe at each 2 s segment start and nowhere else
    assert sorted(p.name for p in tmp_path.iterdir()) == ["144p_00001.mp4", "180p_00001.mp4"]


def test_chunk_cut_is_frame_exact(samples: Samples, tmp_path: Path) -> None:
    """The first and last frame of a chunk are source frames 100 and 199, not a neighbour."""
    info = probe(samples.clip9)
    chunk = plan_chunks(info.duration_s or 0, 2, 2, fps=info.fps)[1]
    (out,) = encode_chunk(samples.clip9, chunk, RUNGS[1:], SETTINGS, tmp_path, info=info)
    enc = _gray_frames(out.path, 320, 180)
    src = _gray_frames(samples.clip9, 320, 180, select="between(n,99,101)+between(n,198,200)")
    assert len(src) == 6

    def nearest(frame: np.ndarray, candidates: np.ndarray) -> int:
        return int(np.argmin(((candidates - frame) ** 2).mean(axis=1)))

    assert nearest(enc[0], src[:3]) == 1  # source frame 100
    assert nearest(enc[-1], src[3:]) == 1  # source frame 199


def test_chunk_of_a_stream_without_index_is_frame_exact(samples: Samples, tmp_path: Path) -> None:
    """MPEG-TS with one keyframe: a plain seek to 2 s would decode nothing until the end."""
    info = probe(samples.long_gop_ts)
    assert info.format_name == "mpegts"
    chunk = plan_chunks(info.duration_s or 0, 2, 1, fps=info.fps)[1]  # frames 50..99
    (out,) = encode_chunk(samples.long_gop_ts, chunk, RUNGS[1:], SETTINGS, tmp_path, info=info)
    assert out.frames == 50
    enc = _gray_frames(out.path, 320, 180)
    src = _gray_frames(samples.long_gop_ts, 320, 180, select="between(n,49,51)")
    assert int(np.argmin(((src - enc[0]) ** 2).mean(axis=1))) == 1  # source frame 50


def test_ntsc_chunk_at_a_fractional_start(samples: Samples, tmp_path: Path) -> None:
    info = probe(samples.clip_ntsc)
    chunks = plan_chunks(info.duration_s or 0, 1, 2, fps=info.fps)
    assert [c.frames for c in chunks] == [60, 45]
    outs = encode_chunk(
        samples.clip_ntsc, chunks[1], RUNGS[:1], EncodeSettings(segment_seconds=1), tmp_path
    )
    assert outs[0].frames == 45
    keys = [t for t, k in _packets(outs[0].path) if k]
    assert keys == pytest.approx([0.0, 30 * 1001 / 30000], abs=1e-3)


def test_rotated_source_is_encoded_upright(samples: Samples, tmp_path: Path) -> None:
    chunk = plan_chunks(2.0, 2, 1, fps=25)[0]
    (out,) = encode_chunk(samples.rotated, chunk, RUNGS[1:], SETTINGS, tmp_path)
    # a portrait picture gets the 320x180 box standing up: its full 180x320
    assert (out.width, out.height) == (180, 320)
    probed = probe(out.path)
    assert (probed.width, probed.height) == (180, 320) and probed.rotation == 0


def test_same_chunk_twice_is_byte_identical(samples: Samples, tmp_path: Path) -> None:
    chunk = plan_chunks(9.0, 2, 2, fps=25)[2]
    a = encode_chunk(samples.clip9, chunk, RUNGS, SETTINGS, tmp_path / "a")
    b = encode_chunk(samples.clip9, chunk, RUNGS, SETTINGS, tmp_path / "b")
    digest = [hashlib.sha256(Path(o.path).read_bytes()).hexdigest() for o in a]
    assert digest == [hashlib.sha256(Path(o.path).read_bytes()).hexdigest() for o in b]


def test_frame_count_mismatch_fails_and_leaves_nothing(samples: Samples, tmp_path: Path) -> None:
    # a chunk planned past the end of the 9 s source cannot deliver its 100 frames
    beyond = Chunk(idx=7, start_s=8.0, duration_s=4.0, first_segment=4, segments=2,
                   start_frame=200, frames=100)  # fmt: skip
    with pytest.raises(MediaError, match=r"rung 144p has 25 frames, expected 100"):
        encode_chunk(samples.clip9, beyond, RUNGS, SETTINGS, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_is_a_media_error_with_the_reason(samples: Samples, tmp_path: Path) -> None:
    bad = EncodeSettings(segment_seconds=2, preset="not-a-preset")
    with pytest.raises(MediaError, match=r"encode chunk 0 .*: .+"):
        encode_chunk(samples.clip9, plan_chunks(9.0, 2, 2, fps=25)[0], RUNGS, bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_av1_chunk(samples: Samples, tmp_path: Path) -> None:
    info = probe(samples.clip9)
    chunk = plan_chunks(9.0, 2, 2, fps=25)[1]
    av1 = EncodeSettings(codec="av1", crf=35, preset="veryfast", segment_seconds=2)
    (out,) = encode_chunk(samples.clip9, chunk, RUNGS[:1], av1, tmp_path, info=info)
    assert probe(out.path).video_codec == "av1"
    assert out.frames == 100
    assert [t for t, k in _packets(out.path) if k] == [0.0, 2.0]


def test_audio_once_per_video(samples: Samples, tmp_path: Path) -> None:
    path = encode_audio(samples.clip9, tmp_path / "audio.mp4", 96, duration_s=9.0)
    assert path is not None
    info = probe(path)
    assert info.audio_codec == "aac" and not info.has_video
    assert info.duration_s == pytest.approx(9.0, abs=0.05)
    assert [p.name for p in tmp_path.iterdir()] == ["audio.mp4"]
    assert encode_audio(samples.silent, tmp_path / "none.mp4", 96) is None
    assert not (tmp_path / "none.mp4").exists()
