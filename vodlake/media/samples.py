"""Sample videos made from ffmpeg's test sources: moving pictures plus a tone, no downloads.

Used by the demo, the benchmark and the tests. The same arguments give the same bytes
(bitexact, no metadata, one encoder thread), so a sample uploaded twice is the same video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from vodlake.media import _ff

# Sources with motion: a moving test pattern, a zooming fractal, a cellular automaton.
SOURCES = ("testsrc2", "mandelbrot", "life", "smptehdbars")


@dataclass(frozen=True)
class SampleSpec:
    name: str
    title: str
    seconds: float = 6.0
    width: int = 640
    height: int = 360
    rate: str = "25"
    source: str = "testsrc2"
    tone_hz: int = 440
    audio: bool = True


DEMO_SAMPLES: tuple[SampleSpec, ...] = (
    SampleSpec("ocean", "Ocean Deep", 6.0, source="testsrc2", tone_hz=440),
    SampleSpec("city", "City Lights", 5.0, source="mandelbrot", tone_hz=660),
    SampleSpec("forest", "Forest Song", 4.0, source="life", tone_hz=550),
)


def _video(source: str, width: int, height: int, rate: str) -> object:
    if source == "life":
        # the automaton's own size, then scaled: a mold of cells that keeps changing
        node = ffmpeg.input(
            f"life=size={width // 4}x{height // 4}:rate={rate}:mold=10:ratio=0.5:seed=7",
            f="lavfi",
        )
        return node.video.filter("scale", width, height, flags="neighbor")
    if source == "mandelbrot":
        return ffmpeg.input(f"mandelbrot=size={width}x{height}:rate={rate}", f="lavfi").video
    if source in ("testsrc2", "smptehdbars"):
        return ffmpeg.input(f"{source}=size={width}x{height}:rate={rate}", f="lavfi").video
    raise ValueError(f"unknown sample source {source!r}: one of {SOURCES}")


def make_sample(
    path: str | os.PathLike[str],
    seconds: float = 6.0,
    width: int = 640,
    height: int = 360,
    rate: str = "25",
    source: str = "testsrc2",
    tone_hz: int = 440,
    audio: bool = True,
    crf: int = 18,
    noise: int = 0,
    rotate: int = 0,
) -> Path:
    """Write an H.264 (+ AAC) MP4 of `seconds` from a lavfi test source.

    `noise` (0-100) adds temporal grain, which makes the picture harder to compress, closer to
    camera footage than a clean synthetic pattern. `rotate` (90, 180 or 270) makes a phone-like
    file: the width x height picture is stored turned and tagged with that display rotation,
    so players (and ffmpeg) show it upright at width x height, as a phone held upright records.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    video = _video(source, width, height, rate)
    if noise:
        video = video.filter("noise", alls=int(noise), allf="t")
    if rotate:
        turns = {90: ("transpose", "clock"), 270: ("transpose", "cclock")}
        if rotate in turns:
            video = video.filter(*turns[rotate])
        elif rotate == 180:
            video = video.filter("hflip").filter("vflip")
        else:
            raise ValueError(f"rotate must be 90, 180 or 270, got {rotate}")
    streams = [video]
    if audio:
        tone = ffmpeg.input(
            f"sine=frequency={tone_hz}:sample_rate=48000:duration={seconds}", f="lavfi"
        )
        streams.append(tone.audio)
    args: dict[str, object] = {
        "t": f"{seconds}",
        "c:v": "libx264",
        "preset": "veryfast",
        "crf": crf,
        "pix_fmt": "yuv420p",
        "g": 50,
        "threads": 1,
        "map_metadata": -1,
        "fflags": "+bitexact",
        "flags:v": "+bitexact",
        "movflags": "+faststart",
    }
    if audio:
        args |= {"c:a": "aac", "b:a": "96k", "flags:a": "+bitexact"}
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    cmd = ffmpeg.output(*streams, str(tmp), **args).overwrite_output().compile(cmd=_ff.FFMPEG)
    cmd = [cmd[0], "-nostdin", "-hide_banner", "-v", "error", *cmd[1:]]
    _ff.run(cmd, f"make sample {out.name}")
    if rotate:  # the muxer writes the display matrix when stream copying (ffmpeg 5.1)
        tagged = out.with_name(f".{out.stem}.rot{out.suffix}")
        _ff.run(
            [_ff.FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(tmp),
             "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", "-movflags", "+faststart",
             str(tagged)],
            f"tag rotation of {out.name}",
        )  # fmt: skip
        os.replace(tagged, tmp)
    os.replace(tmp, out)
    return out


def make_from_spec(spec: SampleSpec, folder: str | os.PathLike[str]) -> Path:
    return make_sample(
        Path(folder) / f"{spec.name}.mp4",
        spec.seconds,
        spec.width,
        spec.height,
        spec.rate,
        spec.source,
        spec.tone_hz,
        spec.audio,
    )


__all__ = ["DEMO_SAMPLES", "SOURCES", "SampleSpec", "make_from_spec", "make_sample"]
