"""What runs on the executors: probe a source, encode one unit, package one video.

Plain Python over dicts (no Spark import): the streaming query hands these functions the rows
of its `mapPartitions` tasks together with the task's attempt number and executor id, so they
can be tested and benchmarked without a cluster. Everything a task needs travels in one
picklable `TranscodeSpec` built on the driver from the config.

A unit is (video, time range) for video, encoded into every ladder rung by one ffmpeg process
(vodlake.media.encode_chunk), or (video, "audio"): the whole audio track, encoded once per video
so it never drifts. Unit outputs go to the shared work area (`paths.work`) through
vodlake.storage, so the packaging task of a video may run on any executor.

Failures: a MediaError or StorageError is a property of the input (a damaged range, a path
outside the upload root) and becomes an error row at once: retrying would fail the same way.
Anything else (a killed ffmpeg, a full disk, the test hook) is raised so Spark retries the task;
on the last attempt Spark would give, it becomes an error row instead, so one bad video fails
alone and the stream goes on.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vodlake.errors import MediaError, VodlakeError, describe
from vodlake.lake import storage as st
from vodlake.media import (
    Chunk,
    EncodeSettings,
    Limits,
    ProbeInfo,
    Rung,
    encode_audio,
    encode_chunk,
    inspect,
    ladder_for,
    package,
    plan_chunks,
)
from vodlake.media.encode import chunk_file_name

AUDIO_UNIT = -1  # unit_idx of the audio unit of a video
AUDIO_RENDITION = "audio"
MASTER = "master.m3u8"
MPD = "manifest.mpd"


class InjectedFailure(RuntimeError):
    """Raised by the test hook (`transcode.fail_first_attempt`) on a unit's first attempt."""


@dataclass(frozen=True)
class TranscodeSpec:
    """Everything an executor needs, built once on the driver (picklable)."""

    storage: st.Storage
    uploads_root: str
    origin_root: str
    work_root: str
    settings: EncodeSettings
    ladder: tuple[Rung, ...]
    audio_kbps: int
    limits: Limits
    segments_per_chunk: int
    max_attempts: int = 1
    fail_first_attempt: tuple[str, ...] = ()
    store_retry_wait_s: float = 0.0

    @classmethod
    def from_config(cls, cfg: Any, max_attempts: int = 1) -> TranscodeSpec:
        t = cfg.transcode
        if not t.ladder:
            raise VodlakeError("transcode.ladder is empty", hint="list the rungs in conf/base.yaml")
        return cls(
            storage=st.Storage.from_config(cfg),
            uploads_root=st.normalize(cfg.paths.uploads),
            origin_root=st.normalize(cfg.paths.origin),
            work_root=st.normalize(cfg.paths.work),
            settings=EncodeSettings.from_config(t),
            ladder=tuple(Rung(r.name, r.width, r.height, r.bitrate_kbps) for r in t.ladder),
            audio_kbps=t.audio_bitrate_kbps,
            limits=Limits(
                max_width=t.limits.max_width,
                max_height=t.limits.max_height,
                max_duration_s=t.limits.max_duration_s,
                max_bytes=t.limits.max_bytes,
            ),
            segments_per_chunk=t.segments_per_chunk,
            max_attempts=max(1, min(max_attempts, t.max_attempts)),
            fail_first_attempt=tuple(t.fail_first_attempt),
            store_retry_wait_s=t.store_retry_wait_s,
        )

    def video_root(self, video_id: str) -> str:
        """`<origin>/videos/<video_id>`: what players read."""
        return st.join(self.origin_root, "videos", video_id)

    def work_dir(self, video_id: str, seq: int) -> str:
        """Encoded units of one upload (seq) of a video, before packaging."""
        return st.join(self.work_root, video_id, str(int(seq)))


# --- task plumbing ------------------------------------------------------------------------
def executor_identity() -> str:
    """The Spark executor this Python worker serves.

    A standalone worker starts each executor in `<work dir>/<app id>/<executor id>` and the
    Python workers inherit that directory; in local mode everything runs in the driver.
    """
    cwd = Path.cwd()
    if cwd.parent.name.startswith("app-") and cwd.name:
        return cwd.name
    return os.environ.get("SPARK_EXECUTOR_ID", "driver")


def unit_name(video_id: str, unit_idx: int) -> str:
    """`<video_id>/<unit>` (or `/audio`): what the test hook patterns match."""
    return f"{video_id}/{'audio' if unit_idx == AUDIO_UNIT else unit_idx}"


def scratch_root() -> str:
    """Spark's local dir on an executor (SPARK_LOCAL_DIRS), else the system temp dir."""
    dirs = os.environ.get("SPARK_LOCAL_DIRS", "")
    first = dirs.split(",")[0].strip()
    return first if first and os.path.isdir(first) else tempfile.gettempdir()


def _guarded(
    row: dict[str, Any],
    work: Callable[[], dict[str, Any]],
    attempt: int,
    max_attempts: int,
    executor_id: str,
    store_wait_s: float = 0.0,
) -> dict[str, Any]:
    """Run `work`; turn input problems (and the last allowed attempt's failure) into an error
    row, raise anything else so Spark retries the task. A task that found the object store
    down waits `store_wait_s` first: Spark retries at once, and the store needs time to
    return (the retry window is about (attempts - 1) x store_wait_s)."""
    started = time.monotonic()
    base = {
        "video_id": row["video_id"],
        "seq": row["seq"],
        "executor_id": executor_id,
        "attempt": attempt,
    }
    try:
        out = work()
        out.setdefault("ok", True)
        out.setdefault("reason", None)
    except (MediaError, st.StorageError) as exc:
        out = {"ok": False, "reason": exc.message}
    except Exception as exc:
        if attempt + 1 < max_attempts:
            if isinstance(exc, st.ObjectStoreError):
                time.sleep(store_wait_s)
            raise
        out = {"ok": False, "reason": f"failed after {attempt + 1} attempt(s): {describe(exc)}"}
    return {**base, **out, "seconds": round(time.monotonic() - started, 3)}


@contextlib.contextmanager
def _scratch(prefix: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _timeout_s(duration_s: float, rungs: int) -> float:
    """Generous per-process limit: a hung ffmpeg must not hold a task slot forever."""
    return 300.0 + 60.0 * max(1.0, duration_s) * max(1, rungs)


# --- probe --------------------------------------------------------------------------------
def catalog_facts(info: ProbeInfo) -> dict[str, Any]:
    """The source facts the `videos` row records (transforms.catalog.PROBE_FIELDS)."""
    return {
        "duration_s": info.duration_s,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "video_codec": info.video_codec,
        "has_audio": info.has_audio,
        "size_bytes": info.size_bytes,
        "pix_fmt": info.pix_fmt,
        "bit_depth": info.bit_depth,
        "color_primaries": info.color_primaries,
        "color_transfer": info.color_transfer,
        "color_space": info.color_space,
        "color_range": info.color_range,
        "dynamic_range": info.dynamic_range,
    }


def plan_units(
    info: ProbeInfo, settings: EncodeSettings, segments_per_chunk: int
) -> list[dict[str, Any]]:
    """The encode units of a source (schemas.ENCODE_UNIT): media.plan.plan_chunks in whole
    frames at the ladder's rate, the one plan every later step follows, plus one audio unit
    when there is audio. Made once, on the executor that probed the source."""
    chunks = plan_chunks(
        info.duration_s or 0.0, settings.segment_seconds, segments_per_chunk, fps=info.fps
    )
    units: list[dict[str, Any]] = [
        {
            "kind": "video",
            "unit_idx": c.idx,
            "start_s": c.start_s,
            "duration_s": c.duration_s,
            "start_frame": c.start_frame,
            "frames": c.frames,
            "first_segment": c.first_segment,
            "segments": c.segments,
        }
        for c in chunks
    ]
    if info.has_audio:
        units.append(
            {
                "kind": "audio",
                "unit_idx": AUDIO_UNIT,
                "start_s": 0.0,
                "duration_s": info.duration_s,
                "start_frame": None,
                "frames": None,
                "first_segment": 0,
                "segments": None,
            }
        )
    return units


def probe_source(
    spec: TranscodeSpec, video_id: str, source_uri: str, language: str | None = None
) -> dict[str, Any]:
    """Confine, probe and validate one source; the facts the catalog needs and the unit plan.

    `language` (the catalog's) picks the audio track when the source has several."""
    uri = st.confine(source_uri, spec.uploads_root)
    size = spec.storage.size(uri)
    if size is None:
        raise MediaError("source file not found in the upload area", hint="upload it again")
    if size > spec.limits.max_bytes:  # before downloading anything
        raise MediaError(
            f"too large: {size} bytes exceeds the limit of {spec.limits.max_bytes} bytes",
            hint="upload a smaller file or raise transcode.limits.max_bytes",
        )
    with _scratch("vodlake-probe-") as tmp, spec.storage.local_copy(uri, tmp) as local:
        info = inspect(local, spec.limits, language=language)
    rungs = ladder_for(info.width, info.height, spec.ladder)
    facts = asdict(info)
    facts.pop("path")
    return {
        "source_uri": uri,
        "probe": json.dumps(facts),
        "rungs": json.dumps(
            [asdict(Rung(r.name, r.width, r.height, r.bitrate_kbps)) for r in rungs]
        ),
        "plan": json.dumps(plan_units(info, spec.settings, spec.segments_per_chunk)),
        **catalog_facts(info),
    }


def probe_partition(
    spec: TranscodeSpec, rows: Iterable[dict[str, Any]], attempt: int, executor_id: str
) -> Iterator[dict[str, Any]]:
    """mapPartitions body: rows {video_id, seq, source_uri[, language]} -> probe rows (ok or
    reason)."""
    for row in rows:
        yield _guarded(
            row,
            lambda row=row: probe_source(
                spec, row["video_id"], row["source_uri"], row.get("language")
            ),
            attempt,
            spec.max_attempts,
            executor_id,
            spec.store_retry_wait_s,
        )


# --- encode -------------------------------------------------------------------------------
def _info(probe_json: str, local_path: Path) -> ProbeInfo:
    return ProbeInfo(path=str(local_path), **json.loads(probe_json))


def _rungs(rungs_json: str) -> list[Rung]:
    return [Rung(**r) for r in json.loads(rungs_json)]


def encode_unit(spec: TranscodeSpec, unit: dict[str, Any], attempt: int) -> dict[str, Any]:
    """Encode one unit into the work area; returns {files: {rendition: uri}, frames, bytes}."""
    video_id, idx = unit["video_id"], int(unit["unit_idx"])
    name = unit_name(video_id, idx)
    if attempt == 0 and any(fnmatch.fnmatchcase(name, p) for p in spec.fail_first_attempt):
        raise InjectedFailure(f"test hook: first attempt of unit {name} fails on purpose")
    work = spec.work_dir(video_id, unit["seq"])
    rungs = _rungs(unit["rungs"])
    with _scratch("vodlake-unit-") as tmp:
        with spec.storage.local_copy(st.confine(unit["source_uri"], spec.uploads_root), tmp) as src:
            info = _info(unit["probe"], src)
            if idx == AUDIO_UNIT:
                out = encode_audio(
                    src,
                    tmp / "audio.mp4",
                    spec.audio_kbps,
                    duration_s=info.duration_s,
                    info=info,
                    timeout_s=_timeout_s(info.duration_s or 0, 1),
                )
                if out is None:
                    raise MediaError("audio unit for a source without audio")
                uri = st.join(work, "audio.mp4")
                size = spec.storage.put_file(out, uri)
                return {"files": json.dumps({AUDIO_RENDITION: uri}), "frames": 0, "bytes": size}
            chunk = Chunk(
                idx=idx,
                start_s=float(unit["start_s"]),
                duration_s=float(unit["duration_s"]),
                first_segment=int(unit["first_segment"]),
                segments=int(unit["segments"]),
                start_frame=unit.get("start_frame"),
                frames=unit.get("frames"),
            )
            outputs = encode_chunk(
                src,
                chunk,
                rungs,
                spec.settings,
                tmp / "out",
                info=info,
                timeout_s=_timeout_s(chunk.duration_s, len(rungs)),
            )
        files, total = {}, 0
        for o in outputs:
            uri = st.join(work, chunk_file_name(o.rung_name, idx))
            total += spec.storage.put_file(o.path, uri)
            files[o.rung_name] = uri
    return {"files": json.dumps(files), "frames": outputs[0].frames, "bytes": total}


def encode_partition(
    spec: TranscodeSpec, units: Iterable[dict[str, Any]], attempt: int, executor_id: str
) -> Iterator[dict[str, Any]]:
    """mapPartitions body: unit rows -> one result row per unit (ok, files or reason)."""
    for unit in units:
        result = _guarded(
            unit,
            lambda unit=unit: encode_unit(spec, unit, attempt),
            attempt,
            spec.max_attempts,
            executor_id,
            spec.store_retry_wait_s,
        )
        result["unit_idx"] = int(unit["unit_idx"])
        yield result


# --- package ------------------------------------------------------------------------------
def package_video(spec: TranscodeSpec, video: dict[str, Any]) -> dict[str, Any]:
    """Join a video's encoded units into HLS + DASH, publish them to origin, describe them.

    `video` holds the probe row fields and `units`: the encode result rows of every unit.
    Returns hls/dash URIs plus `renditions` and `segments` rows (as JSON) for the catalog.
    """
    video_id = video["video_id"]
    rungs = _rungs(video["rungs"])
    units = {int(u["unit_idx"]): u for u in video["units"]}
    video_units = sorted(i for i in units if i != AUDIO_UNIT)
    if video_units != list(range(len(video_units))) or not video_units:
        raise MediaError(f"packaging: units {video_units} are not a complete sequence")
    info = json.loads(video["probe"])
    fps = float(info["fps"])
    root = spec.video_root(video_id)
    with _scratch("vodlake-package-") as tmp, contextlib.ExitStack() as stack:
        files: dict[str, list[str]] = {r.name: [] for r in rungs}
        for i in video_units:
            by_rung = json.loads(units[i]["files"])
            for r in rungs:
                local = stack.enter_context(spec.storage.local_copy(by_rung[r.name], tmp))
                files[r.name].append(str(local))
        audio = None
        if AUDIO_UNIT in units:
            audio_uri = json.loads(units[AUDIO_UNIT]["files"])[AUDIO_RENDITION]
            audio = stack.enter_context(spec.storage.local_copy(audio_uri, tmp))
        result = package(
            video_id,
            files,
            audio,
            rungs,
            spec.settings.segment_seconds,
            tmp / "pkg",
            timeout_s=_timeout_s(float(info["duration_s"] or 0), len(rungs)),
        )
        planned_s = sum(int(u["frames"]) for i, u in units.items() if i != AUDIO_UNIT) / fps
        _check_package(result, [r.name for r in rungs], planned_s, fps)
        # segments and media playlists first, the master and the MPD last: the commit point
        spec.storage.put_tree(result.out_dir, root, commit=(MASTER, MPD))

    rendition_rows = []
    for r in result.renditions:
        segs = result.segments_of(r.name)
        init = next(i for i in result.init_segments if i.rendition == r.name)
        rung = next((x for x in rungs if x.name == r.name), None)
        rendition_rows.append(
            {
                "video_id": video_id,
                "rendition": r.name,
                "kind": r.kind,
                "codec": "aac" if r.kind == "audio" else spec.settings.codec,
                "codecs": r.codecs or None,
                "width": r.width,
                "height": r.height,
                "bitrate_kbps": rung.bitrate_kbps if rung else spec.audio_kbps,
                "bandwidth_bps": r.bandwidth,
                "segments": len(segs),
                "duration_s": sum(s.duration_s for s in segs),
                "bytes": sum(s.bytes for s in segs) + init.bytes,
                "playlist_uri": st.join(root, r.playlist),
                "init_uri": st.join(root, init.path),
            }
        )
    spc = spec.segments_per_chunk
    segment_rows = []
    for s in result.segments:
        unit_idx = AUDIO_UNIT if s.rendition == AUDIO_RENDITION else s.index // spc
        unit = units.get(unit_idx, {})
        segment_rows.append(
            {
                "video_id": video_id,
                "rendition": s.rendition,
                "chunk_idx": s.index,
                "start_s": s.start_s,
                "duration_s": s.duration_s,
                "bytes": s.bytes,
                "sha256": s.sha256,
                "uri": st.join(root, s.path),
                "unit_idx": None if unit_idx == AUDIO_UNIT else unit_idx,
                "executor_id": unit.get("executor_id"),
                "attempt": unit.get("attempt"),
            }
        )
    return {
        "hls_uri": st.join(root, MASTER),
        "dash_uri": st.join(root, MPD),
        "renditions": json.dumps(rendition_rows),
        "segments": json.dumps(segment_rows),
        "rendition_names": json.dumps([r.name for r in result.renditions]),
        "packaged_s": result.duration_s,
    }


def _check_package(result: Any, video_names: list[str], planned_s: float, fps: float) -> None:
    """Every video rendition has the same segments and lasts the planned time (one frame)."""
    counts = {n: len(result.segments_of(n)) for n in video_names}
    if len(set(counts.values())) != 1:
        raise MediaError(f"packaging: renditions have different segment counts {counts}")
    for name in video_names:
        total = math.fsum(s.duration_s for s in result.segments_of(name))
        if abs(total - planned_s) > 1.0 / fps + 1e-6:
            raise MediaError(
                f"packaging: rendition {name} lasts {total:.3f} s, planned {planned_s:.3f} s"
            )


def package_partition(
    spec: TranscodeSpec, videos: Iterable[dict[str, Any]], attempt: int, executor_id: str
) -> Iterator[dict[str, Any]]:
    """mapPartitions body: one row per video (probe fields + units) -> package result row."""
    for video in videos:
        yield _guarded(
            video,
            lambda video=video: package_video(spec, video),
            attempt,
            spec.max_attempts,
            executor_id,
            spec.store_retry_wait_s,
        )


def cleanup_work(spec: TranscodeSpec, video_id: str, seq: int) -> None:
    """Drop a video's encoded units once it is packaged (or failed)."""
    spec.storage.delete(spec.work_dir(video_id, seq))


def delete_video(spec: TranscodeSpec, video_id: str) -> None:
    """Remove a deleted video's files from origin (idempotent)."""
    spec.storage.delete(spec.video_root(video_id))


__all__ = [
    "AUDIO_RENDITION",
    "AUDIO_UNIT",
    "InjectedFailure",
    "TranscodeSpec",
    "catalog_facts",
    "cleanup_work",
    "delete_video",
    "encode_partition",
    "encode_unit",
    "executor_identity",
    "package_partition",
    "package_video",
    "plan_units",
    "probe_partition",
    "probe_source",
    "scratch_root",
    "unit_name",
]
