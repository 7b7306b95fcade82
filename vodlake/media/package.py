"""Join encoded chunks and package every rendition as CMAF segments for both HLS and DASH.

One ffmpeg process reads each rung's chunks through the concat demuxer (stream copy, so the
join is lossless), plus the audio, and its DASH muxer writes fMP4 segments, manifest.mpd and,
with `hls_playlist`, HLS playlists that point at the *same* segment files: one copy of the
bytes serves both protocols.

The DASH muxer names folders and files after the Representation id, which it sets to the
stream index. We want `<out_dir>/<rendition>/...`, so after the muxer finishes we rename each
`<index>/` folder to its rendition name and rewrite the few references: the Representation
`id` attribute in the MPD (its SegmentTemplate uses `$RepresentationID$`, so the template
itself stays as written; the MPD is edited as XML, see `_rewrite_mpd`, which also merges the
per-rung AdaptationSets into one), and the HLS playlists, which move into their rendition
folder. A source without audio gives video-only manifests: no audio AdaptationSet, no
EXT-X-MEDIA audio group, CODECS naming the video codec only.
The muxer also stamps wall-clock EXT-X-PROGRAM-DATE-TIME lines, meaningless for VOD; they are
dropped so that packaging the same chunks twice gives identical files.

Final layout:
    <out_dir>/manifest.mpd
    <out_dir>/master.m3u8
    <out_dir>/<rendition>/playlist.m3u8, init.m4s, seg-00001.m4s, ...
    <out_dir>/audio/playlist.m3u8, init.m4s, seg-00001.m4s, ...
Everything is built in a sibling staging folder and swapped in at the end, so a failed run
never leaves a half-written package behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg

from vodlake.errors import MediaError
from vodlake.media import _ff
from vodlake.media.plan import RENDITION_NAME, RungLike

MPD_NAME = "manifest.mpd"
# Keep the MPD's own prefixes when ElementTree writes it back.
for _prefix, _uri in (
    ("", "urn:mpeg:dash:schema:mpd:2011"),
    ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
    ("xlink", "http://www.w3.org/1999/xlink"),
):
    ET.register_namespace(_prefix, _uri)
MASTER_NAME = "master.m3u8"
PLAYLIST_NAME = "playlist.m3u8"
AUDIO_NAME = "audio"
INIT_TEMPLATE = "$RepresentationID$/init.$ext$"
MEDIA_TEMPLATE = "$RepresentationID$/seg-$Number%05d$.$ext$"
_MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@dataclass(frozen=True)
class SegmentFile:
    """One media segment of one rendition. `index` counts from 0; `path` is relative."""

    rendition: str
    index: int
    start_s: float
    duration_s: float
    bytes: int
    sha256: str
    path: str


@dataclass(frozen=True)
class InitFile:
    rendition: str
    bytes: int
    sha256: str
    path: str


@dataclass(frozen=True)
class Rendition:
    name: str
    kind: str  # "video" or "audio"
    codecs: str
    bandwidth: int
    width: int | None
    height: int | None
    playlist: str  # relative path of its HLS media playlist


@dataclass
class PackageResult:
    video_id: str
    out_dir: str
    master_playlist: str
    mpd: str
    playlists: dict[str, str]
    renditions: list[Rendition]
    init_segments: list[InitFile]
    segments: list[SegmentFile]
    duration_s: float
    chunk_frames: dict[str, list[int]] = field(default_factory=dict)

    def segments_of(self, rendition: str) -> list[SegmentFile]:
        return [s for s in self.segments if s.rendition == rendition]


@dataclass(frozen=True)
class _ChunkFacts:
    frames: int
    width: int
    height: int
    codec: str
    extradata: str


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _chunk_facts(path: Path) -> _ChunkFacts:
    data = _ff.ffprobe_json(
        path,
        "-show_data_hash", "sha256", "-select_streams", "v:0",
        "-show_entries", "stream=codec_name,width,height,nb_frames,extradata_hash",
        what=f"read chunk {path.name}",
    )  # fmt: skip
    streams = data.get("streams") or []
    if not streams:
        raise MediaError(f"chunk {path.name} has no video stream")
    s = streams[0]
    frames = int(s.get("nb_frames") or 0) or _ff.count_video_packets(path)
    return _ChunkFacts(
        frames=frames,
        width=int(s.get("width") or 0),
        height=int(s.get("height") or 0),
        codec=str(s.get("codec_name")),
        extradata=str(s.get("extradata_hash")),
    )


def _check_inputs(
    rung_chunk_files: Mapping[str, Sequence[str | os.PathLike[str]]], rungs: Sequence[RungLike]
) -> dict[str, list[_ChunkFacts]]:
    """The chunks must be joinable: same count and frames per chunk in every rung, and within
    a rung the same codec, size and parameter sets (the joined stream keeps the first chunk's)."""
    names = [r.name for r in rungs]
    if set(names) != set(rung_chunk_files):
        raise MediaError(
            f"chunk files for {sorted(rung_chunk_files)} do not match the ladder {names}"
        )
    for name in names:
        if not RENDITION_NAME.match(name) or name == AUDIO_NAME:
            raise MediaError(f"bad rendition name {name!r}")
    counts = {name: len(rung_chunk_files[name]) for name in names}
    if len(set(counts.values())) != 1 or not next(iter(counts.values())):
        raise MediaError(f"every rung needs the same, non-zero number of chunks: {counts}")

    facts: dict[str, list[_ChunkFacts]] = {}
    for name in names:
        facts[name] = [_chunk_facts(Path(p)) for p in rung_chunk_files[name]]
        first = facts[name][0]
        for i, f in enumerate(facts[name]):
            if (f.codec, f.width, f.height, f.extradata) != (
                first.codec,
                first.width,
                first.height,
                first.extradata,
            ):
                raise MediaError(
                    f"rung {name}: chunk {i} was encoded differently from chunk 0 "
                    f"({f.codec} {f.width}x{f.height} vs {first.codec} "
                    f"{first.width}x{first.height}, or different parameter sets)",
                    hint="re-encode the rung with the same settings for every chunk",
                )
    frames = {name: [f.frames for f in facts[name]] for name in names}
    if len({tuple(v) for v in frames.values()}) != 1:
        raise MediaError(f"rungs disagree on frames per chunk: {frames}")
    return facts


def _rewrite_mpd(text: str, ids: Mapping[int, str]) -> str:
    """Edit the muxer's MPD (as XML, with ElementTree): one video AdaptationSet holding every
    rung, Representations named after their renditions.

    The muxer is given one AdaptationSet per rung because it refuses rungs of different picture
    shapes in one set ("Conflicting stream aspect ratios"), and rounding to even sizes makes a
    2.35:1 or 641x359 source's rungs differ by a pixel. A player switches only within a set, so
    they are merged here; the set's `par` goes (each Representation states its own size and
    `sar`), and `bitstreamSwitching` is false (each rung has its own init segment).
    """
    root = ET.fromstring(text)
    period = root.find("d:Period", _MPD_NS)
    if period is None:
        raise MediaError("packaging: the MPD has no Period")
    videos = [
        a for a in period.findall("d:AdaptationSet", _MPD_NS) if a.get("contentType") == "video"
    ]
    if not videos:
        raise MediaError("packaging: the MPD has no video AdaptationSet")
    merged = videos[0]
    for other in videos[1:]:
        for rep in other.findall("d:Representation", _MPD_NS):
            merged.append(rep)
        period.remove(other)
    reps = merged.findall("d:Representation", _MPD_NS)
    merged.set("maxWidth", str(max(int(r.get("width", "0")) for r in reps)))
    merged.set("maxHeight", str(max(int(r.get("height", "0")) for r in reps)))
    merged.attrib.pop("par", None)
    merged.set("bitstreamSwitching", "false")
    for i, aset in enumerate(period.findall("d:AdaptationSet", _MPD_NS)):
        aset.set("id", str(i))

    by_id = {str(idx): name for idx, name in ids.items()}
    seen = []
    for rep in root.iter(f"{{{_MPD_NS['d']}}}Representation"):
        name = by_id.get(rep.get("id", ""))
        if name is None:
            raise MediaError(f"packaging: unexpected representation {rep.get('id')!r} in the MPD")
        rep.set("id", name)
        seen.append(name)
        tpl = rep.find("d:SegmentTemplate", _MPD_NS)
        if tpl is None or not tpl.get("media", "").startswith("$RepresentationID$/"):
            raise MediaError("packaging: unexpected MPD segment template")
    if sorted(seen) != sorted(ids.values()):
        raise MediaError(f"packaging: the MPD lists {seen}, expected {list(ids.values())}")
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _rewrite_media_playlist(text: str, idx: int) -> str:
    """Move a media playlist into its rendition folder: strip the `<idx>/` prefix from URIs,
    drop wall-clock date tags, and mark it VOD."""
    prefix = f"{idx}/"
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME"):
            continue
        if line.startswith("#EXT-X-MAP:"):
            line = line.replace(f'URI="{prefix}', 'URI="')
        elif line and not line.startswith("#"):
            if not line.startswith(prefix):
                raise MediaError(f"packaging: unexpected segment URI {line!r}")
            line = line[len(prefix) :]
        out.append(line)
        if line.startswith("#EXT-X-VERSION"):
            out.append("#EXT-X-PLAYLIST-TYPE:VOD")
            out.append("#EXT-X-INDEPENDENT-SEGMENTS")
    return "\n".join(out) + "\n"


def _bitrates(segments: Sequence[SegmentFile]) -> tuple[int, int]:
    """(peak, average) bits per second of one rendition's segments.

    The peak skips a short final segment: a lone keyframe over a fraction of a second says
    nothing about the bandwidth a player needs.
    """
    if not segments:
        return 0, 0
    body = list(segments[:-1]) if len(segments) > 1 else list(segments)
    peak = max(s.bytes * 8 / s.duration_s for s in body if s.duration_s > 0)
    total_s = sum(s.duration_s for s in segments)
    average = sum(s.bytes for s in segments) * 8 / total_s if total_s else 0
    return round(peak), round(average)


def _rewrite_master(text: str, ids: Mapping[int, str], segments: Sequence[SegmentFile]) -> str:
    """Point the master at the moved playlists and replace BANDWIDTH (ffmpeg uses the first
    segment's average) with the measured peak and AVERAGE-BANDWIDTH, audio included, as the
    HLS spec defines them."""
    for idx, name in ids.items():
        text = text.replace(f"media_{idx}.m3u8", f"{name}/{PLAYLIST_NAME}")
    rates = {name: _bitrates([s for s in segments if s.rendition == name]) for name in ids.values()}
    audio_peak, audio_avg = rates.get(AUDIO_NAME, (0, 0))
    lines = [ln for ln in text.splitlines() if ln != ""]
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:") and i + 1 < len(lines):
            name = lines[i + 1].split("/", 1)[0]
            if name not in rates:
                raise MediaError(f"packaging: unexpected variant {lines[i + 1]!r} in the master")
            peak, avg = rates[name]
            attrs = re.sub(r"(AVERAGE-)?BANDWIDTH=\d+,?", "", line.split(":", 1)[1])
            line = (
                f"#EXT-X-STREAM-INF:BANDWIDTH={peak + audio_peak},"
                f"AVERAGE-BANDWIDTH={avg + audio_avg},{attrs}"
            ).rstrip(",")
        out.append(line)
        if line.startswith("#EXT-X-VERSION"):
            out.append("#EXT-X-INDEPENDENT-SEGMENTS")
    return "\n".join(out) + "\n"


def expand_template(template: str, rep_id: str, number: int) -> str:
    """Resolve the DASH template identifiers our packager uses ($RepresentationID$, $Number$)."""
    out = template.replace("$RepresentationID$", rep_id)

    def number_fmt(m: re.Match[str]) -> str:
        return (f"%{m.group(1)}" % number) if m.group(1) else str(number)

    return re.sub(r"\$Number(?:%(0\d+d))?\$", number_fmt, out)


def read_mpd(mpd: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Representations of an MPD with their segment timelines (exact integer ticks)."""
    root = ET.parse(mpd).getroot()
    reps = []
    for aset in root.iterfind(".//d:AdaptationSet", _MPD_NS):
        kind = aset.get("contentType") or ""
        for rep in aset.iterfind("d:Representation", _MPD_NS):
            tpl = rep.find("d:SegmentTemplate", _MPD_NS)
            if tpl is None:
                tpl = aset.find("d:SegmentTemplate", _MPD_NS)
            if tpl is None:
                raise MediaError("packaging: the MPD has no SegmentTemplate")
            timescale = int(tpl.get("timescale", "1"))
            number = int(tpl.get("startNumber", "1"))
            t = 0
            timeline = []
            for s in tpl.iterfind("d:SegmentTimeline/d:S", _MPD_NS):
                t = int(s.get("t", t))
                d = int(s.get("d", "0"))
                for _ in range(int(s.get("r", "0")) + 1):
                    timeline.append((number, t, d))
                    number += 1
                    t += d
            reps.append(
                {
                    "id": rep.get("id", ""),
                    "kind": kind,
                    "codecs": rep.get("codecs", ""),
                    "bandwidth": int(rep.get("bandwidth", "0")),
                    "width": int(rep.get("width")) if rep.get("width") else None,
                    "height": int(rep.get("height")) if rep.get("height") else None,
                    "timescale": timescale,
                    "init": tpl.get("initialization", ""),
                    "media": tpl.get("media", ""),
                    "timeline": timeline,
                }
            )
    return reps


def _ffmpeg_cmd(
    lists: Sequence[Path], audio: Path | None, segment_seconds: float, mpd: Path
) -> list[str]:
    inputs = [
        ffmpeg.input(str(p), f="concat", safe=1, protocol_whitelist=_ff.PROTOCOLS) for p in lists
    ]
    streams = [i.video for i in inputs]
    # One set per rung (merged afterwards, see _rewrite_mpd), then the audio.
    adaptation = " ".join(f"id={i},streams={i}" for i in range(len(streams)))
    if audio is not None:
        streams.append(ffmpeg.input(str(audio), protocol_whitelist=_ff.PROTOCOLS).audio)
        adaptation += f" id={len(streams) - 1},streams=a"
    out = ffmpeg.output(
        *streams,
        str(mpd),
        **{
            "c": "copy",
            "map_metadata": -1,
            "map_chapters": -1,
            "fflags": "+bitexact",
            "f": "dash",
            "dash_segment_type": "mp4",
            "seg_duration": f"{segment_seconds:g}",
            "use_template": 1,
            "use_timeline": 1,
            "single_file": 0,
            "hls_playlist": 1,
            "write_prft": 0,
            "adaptation_sets": adaptation,
            "init_seg_name": INIT_TEMPLATE,
            "media_seg_name": MEDIA_TEMPLATE,
        },
    )
    cmd = out.overwrite_output().compile(cmd=_ff.FFMPEG)
    return [cmd[0], "-nostdin", "-hide_banner", "-v", "error", *cmd[1:]]


def package(
    video_id: str,
    rung_chunk_files: Mapping[str, Sequence[str | os.PathLike[str]]],
    audio_path: str | os.PathLike[str] | None,
    rungs: Sequence[RungLike],
    segment_seconds: float,
    out_dir: str | os.PathLike[str],
    timeout_s: float | None = None,
) -> PackageResult:
    """Package the chunks (in chunk order, per rung) and the audio into `out_dir`.

    `segment_seconds` must be the value the chunks were encoded with: the muxer cuts at the
    first keyframe at least that long after a segment start, which is the forced boundary.
    Replaces `out_dir` if it exists (packaging is idempotent).
    """
    facts = _check_inputs(rung_chunk_files, rungs)
    names = [r.name for r in rungs]
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # Unique per attempt: Spark may run the same task twice at once (speculation, retries).
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    raw, done = stage / "raw", stage / "out"
    try:
        streams = [*names, AUDIO_NAME] if audio_path is not None else list(names)
        ids = dict(enumerate(streams))
        for idx in ids:
            (raw / str(idx)).mkdir(parents=True)
        lists = []
        for name in names:
            folder = stage / "in" / name
            folder.mkdir(parents=True)
            lines = ["ffconcat version 1.0"]
            for i, p in enumerate(rung_chunk_files[name]):
                link = folder / f"{i:05d}.mp4"
                link.symlink_to(Path(p).resolve())
                lines.append(f"file {link.name}")
            (folder / "list.ffconcat").write_text("\n".join(lines) + "\n")
            lists.append(folder / "list.ffconcat")
        audio = Path(audio_path).resolve() if audio_path is not None else None
        cmd = _ffmpeg_cmd(lists, audio, segment_seconds, raw / MPD_NAME)
        _ff.run(cmd, f"package {video_id}", timeout_s=timeout_s)

        done.mkdir()
        for idx, name in ids.items():
            (raw / str(idx)).rename(done / name)
            text = (raw / f"media_{idx}.m3u8").read_text()
            (done / name / PLAYLIST_NAME).write_text(_rewrite_media_playlist(text, idx))
        (done / MPD_NAME).write_text(_rewrite_mpd((raw / MPD_NAME).read_text(), ids))
        result = _describe(video_id, done, out)
        master = _rewrite_master((raw / MASTER_NAME).read_text(), ids, result.segments)
        (done / MASTER_NAME).write_text(master)
        result.chunk_frames = {n: [f.frames for f in facts[n]] for n in names}
        with contextlib.suppress(FileNotFoundError):
            out.rename(stage / "previous")
        try:
            done.rename(out)
        except OSError:
            # Another attempt put its package in place meanwhile: same inputs, same bytes.
            if not (out / MPD_NAME).is_file():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(stage)
    return result


def _describe(video_id: str, root: Path, final: Path) -> PackageResult:
    """Read back what was written: renditions, init files and segments with sizes and hashes.

    Durations come from the MPD's SegmentTimeline (integer ticks, exact); the HLS playlists
    must list the same files.
    """
    reps = read_mpd(root / MPD_NAME)
    renditions, inits, segments = [], [], []
    playlists: dict[str, str] = {}
    duration = 0.0
    for rep in reps:
        name = rep["id"]
        init_rel = expand_template(rep["init"], name, 0)
        init_path = root / init_rel
        inits.append(InitFile(name, init_path.stat().st_size, _sha256(init_path), init_rel))
        hls_uris = [
            ln
            for ln in (root / name / PLAYLIST_NAME).read_text().splitlines()
            if ln and not ln.startswith("#")
        ]
        rel_media = []
        for index, (number, t, d) in enumerate(rep["timeline"]):
            rel = expand_template(rep["media"], name, number)
            rel_media.append(rel)
            path = root / rel
            segments.append(
                SegmentFile(
                    rendition=name,
                    index=index,
                    start_s=t / rep["timescale"],
                    duration_s=d / rep["timescale"],
                    bytes=path.stat().st_size,
                    sha256=_sha256(path),
                    path=rel,
                )
            )
        if [f"{name}/{u}" for u in hls_uris] != rel_media:
            raise MediaError(f"packaging: HLS and DASH disagree on the segments of {name}")
        if rep["timeline"] and rep["kind"] == "video":
            _, t, d = rep["timeline"][-1]
            duration = max(duration, (t + d) / rep["timescale"])
        playlist = f"{name}/{PLAYLIST_NAME}"
        playlists[name] = str(final / playlist)
        renditions.append(
            Rendition(
                name=name,
                kind=rep["kind"],
                codecs=rep["codecs"],
                bandwidth=rep["bandwidth"],
                width=rep["width"],
                height=rep["height"],
                playlist=playlist,
            )
        )
    return PackageResult(
        video_id=video_id,
        out_dir=str(final),
        master_playlist=str(final / MASTER_NAME),
        mpd=str(final / MPD_NAME),
        playlists=playlists,
        renditions=renditions,
        init_segments=inits,
        segments=segments,
        duration_s=duration,
    )
