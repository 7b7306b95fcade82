"""Running ffmpeg/ffprobe safely: argument lists (never a shell), file-only inputs, clear errors."""

from __future__ import annotations

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

# ffmpeg's own closing words carry no reason; skip them when looking for the real error.
_NOISE = ("conversion failed", "exiting normally", "error while filtering", "nothing was written")
_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
_ABS_PATH = re.compile(r"(?<![\w.])/[^\s:'\"]+")


def abspath(path: str | os.PathLike[str]) -> str:
    """An absolute path: ffmpeg never mistakes it for an option (`-x.mp4`) or a protocol."""
    return str(Path(path).resolve())


def _clean(line: str) -> str:
    """Drop ffmpeg's `[component @ 0x...]` prefix and directory parts of paths."""
    line = _PREFIX.sub("", line.strip())
    return _ABS_PATH.sub(lambda m: os.path.basename(m.group(0)), line)


def error_lines(stderr: str) -> list[str]:
    """The stderr lines that say something, cleaned (ffmpeg ends with generic lines)."""
    lines = [_clean(ln) for ln in stderr.splitlines() if ln.strip()]
    return [ln for ln in lines if ln and not ln.lower().startswith(_NOISE)]


def last_error(stderr: str, limit: int = 300) -> str:
    """The last meaningful stderr line: for a failed encode, the line nearest the failure."""
    lines = error_lines(stderr)
    return lines[-1][:limit] if lines else "no error output"


def first_error(stderr: str, limit: int = 300) -> str:
    """The first meaningful stderr line: for a failed probe, the cause rather than the summary
    ("moov atom not found" rather than "Invalid data found when processing input")."""
    lines = error_lines(stderr)
    return lines[0][:limit] if lines else "no error output"


def run(
    cmd: list[str],
    what: str,
    hint: str | None = None,
    timeout_s: float | None = None,
    first: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run an argument list; on failure raise MediaError('<what>: <error line>').

    The error line is the last meaningful one, or the first with `first=True`.
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
    if proc.returncode != 0:
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
