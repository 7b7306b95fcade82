"""Tiny sample videos for the media tests, made with ffmpeg's test sources.

Everything is generated (testsrc2/mandelbrot pictures, a sine tone) so the tests need no
downloaded media; the clips are a few seconds at 320x180 or smaller. `build_samples(root)` makes
them once into `root` and reuses existing files, so several test modules can share one set per
session.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

FFMPEG = "ffmpeg"


def _ffmpeg(*args: str) -> None:
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr}")


def make_clip(
    path: Path,
    seconds: float,
    width: int = 320,
    height: int = 180,
    rate: str = "25",
    source: str = "testsrc2",
    audio: bool = True,
    faststart: bool = False,
    gop: int = 25,
) -> Path:
    """H.264 + AAC from a lavfi test source (a moving picture) and a 440 Hz tone; the container
    follows the file extension (.mp4, .ts, .mkv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mandelbrot has no duration option; `-t` below ends every source.
    args = ["-f", "lavfi", "-i", f"{source}=size={width}x{height}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-t", str(seconds), "-map", "0:v"]
    if audio:
        args += ["-map", "1:a", "-c:a", "aac", "-b:a", "64k"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(gop)]
    if faststart:
        args += ["-movflags", "+faststart"]
    _ffmpeg(*args, str(path))
    return path


def make_audio_only(path: Path, seconds: float = 2.0) -> Path:
    """An AAC track in an .mp4 container: the extension says video, the content does not."""
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(path))
    return path


def make_rotated(path: Path, seconds: float = 2.0) -> Path:
    """A 320x180 stream stored with a 90 degree display rotation, like a phone video."""
    plain = path.with_name(f"{path.stem}.plain.mp4")
    make_clip(plain, seconds)
    _ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    plain.unlink()
    return path


def truncate(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    """The first `fraction` of `src`, as an interrupted upload leaves it."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@dataclass(frozen=True)
class Samples:
    root: Path
    clip9: Path  # 9 s, 320x180, 25 fps, testsrc2 + tone
    clip_ntsc: Path  # 3.5 s, 256x144, 30000/1001 fps, mandelbrot + tone
    silent: Path  # 3 s, 320x180, 25 fps, no audio
    rotated: Path  # 2 s, stored 320x180, displayed 180x320
    long_gop_ts: Path  # 5 s MPEG-TS with a single keyframe: no index to seek by
    zero_byte: Path
    truncated: Path  # MP4 cut short before its index (moov at the end)
    truncated_faststart: Path  # MP4 with the index first, cut short in the media data
    text: Path  # a text file named .mp4
    audio_only: Path
    big: Path  # 640x360, 1 s: over a 480x270 limit


_BUILT: dict[Path, Samples] = {}


def build_samples(root: Path) -> Samples:
    """Make every sample under `root` (once per process; existing files are reused)."""
    root = Path(root)
    if root in _BUILT:
        return _BUILT[root]
    root.mkdir(parents=True, exist_ok=True)
    s = Samples(
        root=root,
        clip9=root / "clip9.mp4",
        clip_ntsc=root / "clip_ntsc.mp4",
        silent=root / "silent.mp4",
        rotated=root / "rotated.mp4",
        long_gop_ts=root / "long_gop.ts",
        zero_byte=root / "zero_byte.mp4",
        truncated=root / "truncated.mp4",
        truncated_faststart=root / "truncated_faststart.mp4",
        text=root / "notes.mp4",
        audio_only=root / "audio_only.mp4",
        big=root / "big.mp4",
    )
    if not s.clip9.exists():
        make_clip(s.clip9, 9)
    if not s.clip_ntsc.exists():
        make_clip(s.clip_ntsc, 3.5, 256, 144, rate="30000/1001", source="mandelbrot")
    if not s.silent.exists():
        make_clip(s.silent, 3, audio=False)
    if not s.rotated.exists():
        make_rotated(s.rotated)
    if not s.long_gop_ts.exists():
        make_clip(s.long_gop_ts, 5, gop=250)
    if not s.zero_byte.exists():
        s.zero_byte.write_bytes(b"")
    if not s.truncated.exists():
        truncate(s.clip9, s.truncated)
    if not s.truncated_faststart.exists():
        full = make_clip(root / "faststart_full.mp4", 4, faststart=True)
        truncate(full, s.truncated_faststart)
    if not s.text.exists():
        s.text.write_text("These are meeting notes, not a video.\n" * 20)
    if not s.audio_only.exists():
        make_audio_only(s.audio_only)
    if not s.big.exists():
        make_clip(s.big, 1, 640, 360)
    _BUILT[root] = s
    return s
