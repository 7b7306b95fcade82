"""Running ffmpeg/ffprobe safely: argument lists (never a shell), file-only inputs, clear errors."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from vodlake.errors import MediaError

FFMPEG = os.environ.get("VODLAKE_FFMPEG", "ffmpeg")
FFPROBE = os.environ.get("VODLAKE_FFPROBE", "ffprobe")

# Inputs may only be plain files: a crafted playlist or concat list cannot reach the network or
# read through other protocols (concat:, subfile:, http:...).
PROTOCOLS = "file"

# ffmpeg's own wrapper lines carry no reason ("Error initializing output stream 0:1 --" after the
# muxer already said why); skip them when looking for the line that names the cause.
_NOISE = (
    "conversion failed",
    "exiting normally",
    "error while filtering",
    "nothing was written",
    "error initializing output stream",
    "could not write header for output file",
    "error while opening encoder for output stream",
    "error opening output file",
    "error marking filters as finished",
    "failed to inject frame into filter network",
    "error while processing the decoded data",
    "error reinitializing filters",
    "error while decoding stream",
    "task finished with error code",
    "terminating thread with return code",
)
_DECODE_SUMMARY = re.compile(r"^\d+ frames successfully decoded, (\d+) decoding errors$")
_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
_ABS_PATH = re.compile(r"(?<![\w.])/[^\s:'\"]+")


def abspath(path: str | os.PathLike[str]) -> str:
    """An absolute path: ffmpeg never mistakes it for an option (`-x.mp4`) or a protocol."""
    return str(Path(path).resolve())


def _clean(line: str) -> str:
    """Drop ffmpeg's `[component @ 0x...]` prefix and directory parts of paths."""
    line = _PREFIX.sub("", line.strip())
    return _ABS_PATH.sub(lambda m: os.path.basename(m.group(0)), line)


def _is_noise(line: str) -> bool:
    return line.lower().startswith(_NOISE) or bool(_DECODE_SUMMARY.match(line))


def error_lines(stderr: str) -> list[str]:
    """The stderr lines that say something, cleaned; ffmpeg's generic wrapper lines are dropped
    unless nothing else was printed."""
    lines = [_clean(ln) for ln in stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln]
    meaningful = [ln for ln in lines if not _is_noise(ln)]
    return meaningful or lines


def last_error(stderr: str, limit: int = 300) -> str:
    """The last meaningful stderr line: for a failed encode, the line nearest the failure."""
    lines = error_lines(stderr)
    return lines[-1][:limit] if lines else "no error output"


def first_error(stderr: str, limit: int = 300) -> str:
    """The first meaningful stderr line: for a failed probe, the cause rather than the summary
    ("moov atom not found" rather than "Invalid data found when processing input")."""
    lines = error_lines(stderr)
    return lines[0][:limit] if lines else "no error output"


def decode_errors(stderr: str) -> int:
    """How many packets failed to decode, from ffmpeg's closing summary (0 when absent)."""
    for line in reversed(stderr.splitlines()):
        m = _DECODE_SUMMARY.match(_clean(line))
        if m:
            return int(m.group(1))
    return 0


def run(
    cmd: list[str],
    what: str,
    hint: str | None = None,
    timeout_s: float | None = None,
    first: bool = False,
    ok_codes: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run an argument list; on failure raise MediaError('<what>: <error line>').

    The error line is the last meaningful one, or the first with `first=True`. Exit codes in
    `ok_codes` are returned to the caller to judge (ffmpeg exits 69 when `-max_error_rate` is
    crossed, after writing its outputs).
    """
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise MediaError(
            f"{cmd[0]} not found", hint="install ffmpeg (apt-get install ffmpeg)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{what}: timed out after {timeout_s:.0f} s", hint=hint) from exc
    if proc.returncode not in ok_codes:
        reason = first_error(proc.stderr) if first else last_error(proc.stderr)
        raise MediaError(f"{what}: {reason}", hint=hint)
    return proc


def ffprobe_json(path: str | os.PathLike[str], *args: str, what: str = "ffprobe") -> dict[str, Any]:
    """ffprobe with JSON output and file-only protocols."""
    cmd = [
        FFPROBE, "-v", "error", "-protocol_whitelist", PROTOCOLS,
        *args, "-of", "json", abspath(path),
    ]  # fmt: skip
    proc = run(cmd, what, first=True)
    try:
        return json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise MediaError(f"{what}: unreadable ffprobe output") from exc


def count_video_packets(path: str | os.PathLike[str]) -> int:
    """Number of video packets (= frames for our encodes) without decoding; 0 without video."""
    data = ffprobe_json(
        path,
        "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets",
        what=f"count frames of {Path(path).name}",
    )  # fmt: skip
    streams = data.get("streams") or []
    return int(streams[0].get("nb_read_packets") or 0) if streams else 0


@functools.cache
def has_filter(name: str) -> bool:
    """Whether this ffmpeg build has the filter `name` (zscale needs libzimg, for example)."""
    proc = run([FFMPEG, "-hide_banner", "-filters"], "list ffmpeg filters")
    return any(line.split()[1:2] == [name] for line in proc.stdout.splitlines())
