"""A generated corpus of real-world upload shapes (issue 15), made with ffmpeg's lavfi sources.

Each `Case` is one source kind an upload can be: a picture shape, a phone's rotation, odd or
non-square pixels, 10-bit and HDR, variable and broadcast frame rates, interlacing, audio
layouts and several tracks, audio that is longer, shorter or starts later, a non-zero start, a
clip shorter than one segment, and a file that ffprobe reads but that does not decode partway.
Clips are a few seconds at most 480x272 (the 641x359 case excepted), so the whole corpus is
made in seconds. What a case expects (display size, audio, colour, the tone of the chosen audio
track) travels with it, so one checker can go through them all.

Pictures that must come out upright carry a white band across the top of the *displayed*
picture; the stored frames are turned the other way and tagged with the rotation ffmpeg and
players undo (stored `transpose=clock` + tag 90 displays upright, checked with ffmpeg 5.1).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FFMPEG = "ffmpeg"
SECONDS = 3.2  # two 2 s segments, the last one short


def ffmpeg(*args: str) -> None:
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr}")


def _picture(w: int, h: int, rate: str = "25", band: bool = False) -> list[str]:
    """A moving test picture (testsrc2), optionally with a white band over its top quarter."""
    src = f"testsrc2=size={w}x{h}:rate={rate}"
    if band:
        src += ",drawbox=x=0:y=0:w=iw:h=ih/4:color=white:t=fill"
    return ["-f", "lavfi", "-i", src]


def _tone(hz: int, seconds: float, layout: str = "stereo") -> list[str]:
    pan = {
        "mono": "mono|c0=c0",
        "stereo": "stereo|c0=c0|c1=c0",
        "5.1": "5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0",
    }[layout]
    return [
        "-f", "lavfi", "-i",
        f"sine=frequency={hz}:sample_rate=48000:duration={seconds},pan={pan}",
    ]  # fmt: skip


H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"]
AAC = ["-c:a", "aac", "-b:a", "96k"]


@dataclass(frozen=True)
class Case:
    """One corpus source and what its transcode must show."""

    name: str
    kind: str  # the source kind of the issue it stands for
    build: Callable[[Path], None]
    display: tuple[int, int] = (0, 0)  # expected display size after rotation and SAR
    audio: bool = True
    ext: str = "mp4"
    language: str | None = None  # the catalog's language, when the case sets one
    tone_hz: int | None = None  # the frequency the encoded audio must carry
    tone_starts_s: float = 0.0  # where the tone starts in the encoded audio
    dynamic_range: str = "sdr"
    interlaced: bool = False
    upright: bool = False  # the white band must be at the top of every rendition
    fails: str | None = None  # a regex the failure reason must match, for bad sources
    fps: float = 25.0  # the ladder's expected frame rate
    extra: dict = field(default_factory=dict)


def _plain(
    w: int,
    h: int,
    *,
    rate: str = "25",
    audio: str | None = "stereo",
    hz: int = 440,
    seconds: float = SECONDS,
    vf: str | None = None,
    codec: list[str] = H264,
    audio_codec: list[str] = AAC,
    out_args: tuple[str, ...] = (),
) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        args = _picture(w, h, rate)
        if audio:
            args += _tone(hz, seconds, audio)
        args += ["-t", f"{seconds}", "-map", "0:v"]
        if audio:
            args += ["-map", "1:a", *audio_codec]
        if vf:
            args += ["-vf", vf]
        ffmpeg(*args, *codec, *out_args, str(path))

    return build


def _rotated(degrees: int) -> Callable[[Path], None]:
    """A phone-like clip: upright picture (band on top) stored turned, tagged `degrees`."""
    turn = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}[degrees]
    upright = (270, 480) if degrees in (90, 270) else (480, 270)

    def build(path: Path) -> None:
        stored = path.with_name(f"{path.stem}.stored.mp4")
        ffmpeg(
            *_picture(*upright, band=True), *_tone(440, SECONDS),
            "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a", "-vf", turn, *H264, *AAC,
            str(stored),
        )  # fmt: skip
        ffmpeg("-i", str(stored), "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}", str(path))
        stored.unlink()

    return build


def _hdr(transfer: str) -> Callable[[Path], None]:
    """HEVC Main 10, BT.2020, tagged PQ or HLG, as a phone or camera records HDR."""

    def build(path: Path) -> None:
        params = f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"
        ffmpeg(
            *_picture(480, 270), *_tone(440, SECONDS),
            "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a",
            "-vf", "format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
            "-x265-params", params, "-tag:v", "hvc1",
            "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
            *AAC, str(path),
        )  # fmt: skip

    return build


def _vfr(path: Path) -> None:
    """Variable frame rate like a phone: 30 fps with timestamp jitter and a stutter (ten
    frames missing)."""
    ffmpeg(
        *_picture(480, 270, rate="30"), *_tone(440, SECONDS),
        "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a",
        "-vf", "select='not(between(n,40,49))',setpts='(N+10*gte(N,40))/30/TB+0.004*sin(N)/TB'",
        "-fps_mode", "passthrough", *H264, *AAC, str(path),
    )  # fmt: skip


def _interlaced(path: Path) -> None:
    """25i, top field first, coded as interlaced by x264."""
    ffmpeg(
        *_picture(480, 272), *_tone(440, SECONDS),
        "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a",
        "-flags", "+ildct+ilme", "-x264-params", "tff=1", *H264, *AAC, str(path),
    )  # fmt: skip


def _several_tracks(path: Path) -> None:
    """Three audio tracks: French (default, 330 Hz), English (880 Hz), German (550 Hz)."""
    ffmpeg(
        *_picture(320, 180), *_tone(330, SECONDS), *_tone(880, SECONDS), *_tone(550, SECONDS),
        "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a",
        *H264, *AAC,
        "-metadata:s:a:0", "language=fra", "-metadata:s:a:1", "language=eng",
        "-metadata:s:a:2", "language=deu",
        "-disposition:a:0", "default", "-disposition:a:1", "0", "-disposition:a:2", "0",
        str(path),
    )  # fmt: skip


def _audio_length(video_s: float, audio_s: float) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        ffmpeg(
            "-t", f"{video_s}", *_picture(320, 180), *_tone(440, audio_s),
            "-map", "0:v", "-map", "1:a", *H264, *AAC, str(path),
        )  # fmt: skip

    return build


def _late_start(path: Path) -> None:
    """Every timestamp 5 s in, and the audio starting 0.5 s after the picture."""
    ffmpeg(
        *_picture(320, 180), "-itsoffset", "0.5", *_tone(440, SECONDS - 0.5),
        "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a", *H264, *AAC,
        "-output_ts_offset", "5", str(path),
    )  # fmt: skip


def _damaged(path: Path) -> None:
    """A whole file (index first, so ffprobe reads it and the tail decodes) whose media data
    is overwritten with garbage in the middle, as a bad disk or transfer leaves it."""
    full = path.with_name(f"{path.stem}.full.mp4")
    ffmpeg(
        *_picture(320, 180), *_tone(440, SECONDS),
        "-t", f"{SECONDS}", "-map", "0:v", "-map", "1:a", *H264, *AAC,
        "-movflags", "+faststart", str(full),
    )  # fmt: skip
    data = bytearray(full.read_bytes())
    rng = np.random.default_rng(15)
    a, b = len(data) * 45 // 100, len(data) * 60 // 100
    data[a:b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    full.unlink()


CASES: tuple[Case, ...] = (
    Case("cinema-239", "aspect 2.39:1", _plain(480, 200), display=(480, 200)),
    Case(
        "cinema-235-silent",
        "aspect 2.35:1, no audio",
        _plain(480, 204, audio=None),
        display=(480, 204),
        audio=False,
    ),
    Case("four-three-mono", "aspect 4:3, mono", _plain(360, 270, audio="mono"), display=(360, 270)),
    Case("square-5.1", "aspect 1:1, 5.1 audio", _plain(270, 270, audio="5.1"), display=(270, 270)),
    Case("portrait-916", "aspect 9:16 stored upright", _plain(270, 480), display=(270, 480)),
    Case("phone-rot90", "rotation 90", _rotated(90), display=(270, 480), upright=True),
    Case("phone-rot180", "rotation 180", _rotated(180), display=(480, 270), upright=True),
    Case("phone-rot270", "rotation 270", _rotated(270), display=(270, 480), upright=True),
    Case(
        "odd-641x359",
        "odd size (VP9/WebM)",
        _plain(
            640,
            360,
            vf="scale=641:359,setsar=1",
            codec=["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25"],
            audio_codec=["-c:a", "libopus"],
        ),
        display=(641, 359),
        ext="webm",
        audio=True,
    ),
    Case(
        "pal-sar-12-11",
        "non-square pixels (SAR 12:11)",
        _plain(352, 288, vf="setsar=12/11"),
        display=(384, 288),
    ),
    Case(
        "letterboxed",
        "letterboxed 2.35:1 in 16:9",
        _plain(480, 204, vf="pad=480:270:0:33:black"),
        display=(480, 270),
    ),
    Case(
        "ten-bit-sdr",
        "10-bit H.264 BT.709",
        _plain(
            480,
            270,
            vf="format=yuv420p10le",
            out_args=("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"),
        ),
        display=(480, 270),
    ),
    Case(
        "hdr-pq",
        "HDR10 (HEVC 10-bit, BT.2020 PQ)",
        _hdr("smpte2084"),
        display=(480, 270),
        dynamic_range="pq",
    ),
    Case(
        "hdr-hlg",
        "HLG (HEVC 10-bit, BT.2020 HLG)",
        _hdr("arib-std-b67"),
        display=(480, 270),
        dynamic_range="hlg",
    ),
    Case("vfr-phone", "variable frame rate", _vfr, display=(480, 270), fps=30.0),
    Case(
        "fps-23.976",
        "23.976 fps",
        _plain(256, 144, rate="24000/1001"),
        display=(256, 144),
        fps=24000 / 1001,
    ),
    Case(
        "fps-29.97",
        "29.97 fps",
        _plain(256, 144, rate="30000/1001"),
        display=(256, 144),
        fps=30000 / 1001,
    ),
    Case("fps-50", "50 fps", _plain(256, 144, rate="50"), display=(256, 144), fps=50.0),
    Case(
        "fps-59.94",
        "59.94 fps",
        _plain(256, 144, rate="60000/1001"),
        display=(256, 144),
        fps=60000 / 1001,
    ),
    Case("interlaced-25i", "interlaced", _interlaced, display=(480, 272), interlaced=True),
    Case(
        "tracks-default",
        "several audio tracks, no language",
        _several_tracks,
        display=(320, 180),
        tone_hz=330,
    ),
    Case(
        "tracks-english",
        "several audio tracks, catalog language en",
        _several_tracks,
        display=(320, 180),
        language="en",
        tone_hz=880,
    ),
    Case("audio-longer", "audio longer than video", _audio_length(3.0, 4.5), display=(320, 180)),
    Case("audio-shorter", "audio shorter than video", _audio_length(3.2, 1.8), display=(320, 180)),
    Case(
        "late-start",
        "start time 5 s, audio 0.5 s after the picture",
        _late_start,
        display=(320, 180),
        tone_starts_s=0.5,
    ),
    Case(
        "mpegts",
        "MPEG-TS (start 1.4 s, audio leads the picture)",
        _plain(320, 180),
        display=(320, 180),
        ext="ts",
    ),
    Case(
        "shorter-than-a-segment",
        "1.2 s, shorter than one segment",
        _plain(320, 180, seconds=1.2),
        display=(320, 180),
    ),
    Case(
        "damaged-midway",
        "ffprobe reads it, decoding fails partway",
        _damaged,
        display=(320, 180),
        fails=r"damaged source|does not decode",
    ),
)


def build_case(case: Case, folder: Path) -> Path:
    """Make the case's file in `folder` (reused when it exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.name}.{case.ext}"
    if not path.exists():
        tmp = path.with_name(f"{path.stem}.part.{case.ext}")
        case.build(tmp)
        tmp.rename(path)
    return path


# --- measurements on outputs --------------------------------------------------------------
def gray_frame(path: Path | str, index: int = 0) -> np.ndarray:
    """Luma of one decoded frame (rows x columns)."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-protocol_whitelist", "file", "-i", str(path),
         "-vf", f"select=eq(n\\,{index}),format=gray", "-frames:v", "1",
         "-f", "image2pipe", "-c:v", "pgm", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    _header, _, rest = out.partition(b"\n")
    dims, _, rest = rest.partition(b"\n")
    _, _, pixels = rest.partition(b"\n")
    w, h = (int(x) for x in dims.split())
    return np.frombuffer(pixels, dtype=np.uint8).reshape(h, w).astype(np.float64)


def audio_samples(path: Path | str, rate: int = 8000) -> np.ndarray:
    """The first audio track, mixed to mono at `rate` Hz, as floats."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-protocol_whitelist", "file", "-i", str(path), "-map", "0:a:0",
         "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(out, dtype=np.float32).astype(np.float64)


def tone(samples: np.ndarray, rate: int = 8000) -> tuple[float, float]:
    """(dominant frequency in Hz, time in s where the sound starts)."""
    loud = np.flatnonzero(np.abs(samples) > 0.05)
    if loud.size == 0:
        return 0.0, float("nan")
    start = loud[0]
    part = samples[start : start + rate]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(part.size)))
    freq = float(np.fft.rfftfreq(part.size, 1 / rate)[int(np.argmax(spectrum))])
    return freq, start / rate
