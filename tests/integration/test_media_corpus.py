"""Every real-world source kind of issue 15, through the media layer end to end.

Each case of tests.media_corpus goes probe -> plan -> encode (chunk by chunk, as the executors
do) -> audio -> package, with a 3-rung ladder, 2 s segments and one segment per unit (so every
segment boundary is also a chunk boundary). A source that can play must then show: every
rendition of the HLS master and of the DASH manifest decodes, each lasts the source's duration
within one frame, keyframes start every segment, segments line up across renditions, rungs keep
the picture's shape at even sizes no larger than the source, the audio (when there is some)
is the chosen track, stereo, as long as the picture and in sync; a portrait or rotated clip
comes out upright; HDR comes out 8-bit BT.709. A source that cannot play fails with ffmpeg's
own reason and leaves no package behind. The catalog facts of each source are checked too.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.media_corpus import CASES, Case, audio_samples, build_case, gray_frame, tone
from vodlake.catalog.transcode import catalog_facts
from vodlake.errors import MediaError
from vodlake.media import (
    EncodeSettings,
    Limits,
    PackageResult,
    ProbeInfo,
    encode_audio,
    encode_chunk,
    inspect,
    ladder_for,
    package,
    plan_chunks,
)
from vodlake.media.plan import Rung, rung_size
from vodlake.media.verify import keyframe_at_segment_starts, verify_playable

LADDER = [Rung("144p", 256, 144, 150), Rung("180p", 320, 180, 300), Rung("270p", 480, 270, 500)]
SETTINGS = EncodeSettings(preset="ultrafast", segment_seconds=2, threads=1)
LIMITS = Limits(max_width=1920, max_height=1920, max_duration_s=60)


@dataclass
class Outcome:
    case: Case
    source: Path
    out_dir: Path
    info: ProbeInfo | None = None
    result: PackageResult | None = None
    error: str | None = None


def transcode(case: Case, root: Path) -> Outcome:
    """probe -> plan -> encode -> package, as vodlake.catalog.transcode runs it per unit."""
    source = build_case(case, root / "sources")
    out = Outcome(case, source, root / "out" / case.name)
    try:
        out.info = info = inspect(source, LIMITS, language=case.language)
        rungs = ladder_for(info.width, info.height, LADDER)
        files: dict[str, list[str]] = {r.name: [] for r in rungs}
        for chunk in plan_chunks(info.duration_s or 0, SETTINGS.segment_seconds, 1, info.fps):
            work = root / "work" / case.name
            for o in encode_chunk(source, chunk, rungs, SETTINGS, work, info=info):
                files[o.rung_name].append(o.path)
        audio = encode_audio(
            source, root / "work" / case.name / "audio.mp4", 96, info.duration_s, info
        )
        out.result = package(case.name, files, audio, rungs, SETTINGS.segment_seconds, out.out_dir)
    except MediaError as exc:
        out.error = exc.message
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("corpus")
    done: dict[str, Outcome] = {}

    def get(case: Case) -> Outcome:
        if case.name not in done:
            done[case.name] = transcode(case, root)
        return done[case.name]

    return get


def _probe_stream(path: Path | str, entries: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-protocol_whitelist", "file", "-select_streams", "v:0",
         "-show_entries", f"stream={entries}", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)["streams"][0]


def check_source_facts(case: Case, info: ProbeInfo) -> None:
    assert (info.width, info.height) == case.display
    assert info.has_audio == case.audio
    assert info.dynamic_range == case.dynamic_range
    assert info.interlaced == case.interlaced
    assert info.fps == pytest.approx(case.fps)
    facts = catalog_facts(info)  # what the `videos` row records
    assert (facts["width"], facts["height"], facts["has_audio"]) == (*case.display, case.audio)
    assert facts["dynamic_range"] == case.dynamic_range
    if case.dynamic_range != "sdr":
        assert (facts["color_primaries"], facts["bit_depth"]) == ("bt2020", 10)
        assert (
            facts["color_transfer"]
            == {"pq": "smpte2084", "hlg": "arib-std-b67"}[case.dynamic_range]
        )


def check_ladder(info: ProbeInfo, result: PackageResult) -> None:
    video = [r for r in result.renditions if r.kind == "video"]
    assert video
    by_name = {x.name: x for x in LADDER}
    for r in video:
        w, h = r.width or 0, r.height or 0
        if r.name in by_name:  # else the one rung at source size of a small source
            assert (w, h) == rung_size(info.width, info.height, by_name[r.name])
        assert w % 2 == 0 and h % 2 == 0, (r.name, w, h)
        assert w <= info.width and h <= info.height, "never upscaled"
        assert abs(w * info.height - h * info.width) <= 2 * (info.width + info.height), (
            f"{r.name} {w}x{h} does not keep the {info.width}x{info.height} shape"
        )
    # the same segment boundaries in every rendition
    timelines = [
        [(round(s.start_s, 6), round(s.duration_s, 6)) for s in result.segments_of(r.name)]
        for r in video
    ]
    for a, b in itertools.pairwise(timelines):
        assert a == b


def check_playback(case: Case, info: ProbeInfo, result: PackageResult) -> None:
    frames = round((info.duration_s or 0) * info.fps)
    one_frame = 1 / info.fps + 1e-3
    # AAC codes whole 1024-sample frames after one frame of encoder delay: a track trimmed to
    # the picture decodes up to two AAC frames longer
    aac_frames = 2 * 1024 / 48000 + 1e-3
    names = {r.name for r in result.renditions if r.kind == "video"}
    for manifest in (result.master_playlist, result.mpd):
        streams = verify_playable(manifest)
        video = [s for s in streams if s.kind == "video"]
        sound = [s for s in streams if s.kind == "audio"]
        assert len(video) == len(names), manifest
        for s in video:
            assert abs(s.frames - frames) <= 1, (manifest, s)
            assert abs(s.duration_s - (info.duration_s or 0)) <= one_frame, (manifest, s)
        if case.audio:
            assert len(sound) == 1, manifest
            assert abs(sound[0].duration_s - (info.duration_s or 0)) <= max(
                one_frame, aac_frames
            ), (
                manifest,
                sound[0],
            )
        else:
            assert sound == [], manifest
    assert keyframe_at_segment_starts(result.mpd) == []


def check_no_audio_manifests(result: PackageResult) -> None:
    master = Path(result.master_playlist).read_text()
    assert "TYPE=AUDIO" not in master and "mp4a" not in master
    codecs = re.findall(r'CODECS="([^"]*)"', master)
    assert codecs and all(re.fullmatch(r"avc1\.[0-9a-f]{6}", c) for c in codecs), codecs
    mpd = Path(result.mpd).read_text()
    assert 'contentType="audio"' not in mpd and "mp4a" not in mpd
    assert [r.kind for r in result.renditions] == ["video"] * len(result.renditions)


def check_audio(case: Case, result: PackageResult) -> None:
    playlist = Path(result.out_dir) / "audio" / "playlist.m3u8"
    rend = next(r for r in result.renditions if r.kind == "audio")
    assert rend.codecs == "mp4a.40.2"
    channels = subprocess.run(
        ["ffprobe", "-v", "error", "-protocol_whitelist", "file", "-select_streams", "a:0",
         "-show_entries", "stream=channels", "-of", "csv=p=0", str(playlist)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert channels[0] == "2", "mixed to stereo"
    freq, start = tone(audio_samples(playlist))
    if case.tone_hz:
        assert freq == pytest.approx(case.tone_hz, abs=10), "the chosen track"
    assert start == pytest.approx(case.tone_starts_s, abs=0.05), "in sync with the picture"


def check_upright(result: PackageResult) -> None:
    for r in (r for r in result.renditions if r.kind == "video"):
        luma = gray_frame(Path(result.out_dir) / r.playlist, 0)
        quarter = luma.shape[0] // 4
        top, bottom = luma[: quarter - 2].mean(), luma[-quarter:].mean()
        assert top > 200 and top > bottom + 60, (r.name, top, bottom)


def check_sdr_output(result: PackageResult) -> None:
    for r in (r for r in result.renditions if r.kind == "video"):
        playlist = Path(result.out_dir) / r.playlist
        s = _probe_stream(playlist, "pix_fmt,color_transfer,color_primaries,color_space")
        assert s["pix_fmt"] == "yuv420p", r.name
        assert (s.get("color_transfer"), s.get("color_primaries")) == ("bt709", "bt709"), s
        luma = gray_frame(playlist, 10)
        assert 16 < luma.mean() < 235 and luma.std() > 10, "a picture, not a flat field"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_source_plays_or_fails_with_its_reason(corpus, case: Case) -> None:
    out = corpus(case)
    if case.fails:
        assert out.error is not None, f"{case.name} should fail"
        assert re.search(case.fails, out.error), out.error
        assert not out.error.rstrip().endswith("--"), "a cause, not ffmpeg's banner"
        assert not out.out_dir.exists(), "no partial video published"
        return
    assert out.error is None, out.error
    assert out.info is not None and out.result is not None
    check_source_facts(case, out.info)
    check_ladder(out.info, out.result)
    check_playback(case, out.info, out.result)
    if case.audio:
        check_audio(case, out.result)
    else:
        check_no_audio_manifests(out.result)
    if case.display[1] > case.display[0]:  # portrait pictures come out portrait
        for r in (r for r in out.result.renditions if r.kind == "video"):
            assert (r.height or 0) > (r.width or 0), r
    if case.upright:
        check_upright(out.result)
    for r in (r for r in out.result.renditions if r.kind == "video"):
        s = _probe_stream(Path(out.result.out_dir) / r.playlist, "pix_fmt,field_order")
        assert s["pix_fmt"] == "yuv420p", "8-bit 4:2:0 for every player"
        assert s.get("field_order") in (None, "progressive", "unknown"), "deinterlaced"
    if case.dynamic_range != "sdr":
        check_sdr_output(out.result)


def test_the_corpus_covers_every_source_kind_of_the_issue() -> None:
    kinds = " | ".join(c.kind for c in CASES)
    for needle in ("2.39:1", "2.35:1", "4:3", "1:1", "9:16", "no audio", "several audio",
                   "mono", "5.1", "rotation 90", "rotation 180", "rotation 270", "odd size",
                   "non-square", "letterboxed", "10-bit", "PQ", "HLG", "variable frame rate",
                   "23.976", "29.97", "50 fps", "59.94", "interlaced", "audio longer",
                   "audio shorter", "start time", "shorter than one segment",
                   "decoding fails partway"):  # fmt: skip
        assert needle in kinds, needle
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.slow
def test_a_30_minute_source_is_planned_in_small_units_each_encoded_alone(tmp_path) -> None:
    """A 30-minute 320x180 source: the plan is 225 units of 8 s whatever the length (so a task
    and the driver's unit list stay small), and a unit from the start, the middle and the end
    each encodes alone, frame exact, by seeking (per-unit seconds are printed, not asserted)."""
    import time

    from tests.media_corpus import ffmpeg
    from vodlake.catalog.transcode import plan_units
    from vodlake.media import Chunk

    source = tmp_path / "long.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=48000", "-t", "1800", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-b:a", "32k",
        str(source),
    )  # fmt: skip
    info = inspect(source, Limits())
    assert info.duration_s == pytest.approx(1800, abs=0.05)
    units = plan_units(info, EncodeSettings(segment_seconds=4), 2)
    video = [u for u in units if u["kind"] == "video"]
    assert len(video) == 225 and len(units) == 226
    assert {u["frames"] for u in video} == {200} and sum(u["frames"] for u in video) == 45000
    assert max(len(json.dumps(u)) for u in units) < 250, "each unit is a small fixed record"
    settings = EncodeSettings(preset="ultrafast", segment_seconds=4)
    seconds = {}
    for u in (video[0], video[112], video[-1]):
        chunk = Chunk(
            u["unit_idx"], u["start_s"], u["duration_s"], u["first_segment"], u["segments"],
            u["start_frame"], u["frames"],
        )  # fmt: skip
        t0 = time.perf_counter()
        (out,) = encode_chunk(source, chunk, [LADDER[1]], settings, tmp_path / "enc", info=info)
        seconds[u["unit_idx"]] = round(time.perf_counter() - t0, 2)
        assert out.frames == 200
        got = gray_frame(out.path, 0).ravel()
        start = max(0, u["start_frame"] - 1)
        near = _frames(source, start / info.fps, 3)  # the frames before, at and after
        distances = [np.abs(got - f).mean() for f in near]
        assert int(np.argmin(distances)) == u["start_frame"] - start, (u["unit_idx"], distances)
    print(f"30-minute source: seconds per unit (first, middle, last) {seconds}")


def _frames(path: Path, t: float, n: int) -> list[np.ndarray]:
    """`n` source frames from time `t` (accurate seek), as flat luma arrays at 320x180."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{t:.6f}", "-i", str(path), "-frames:v", str(n),
         "-vf", "format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    flat = np.frombuffer(out, dtype=np.uint8).astype(np.float64)
    return list(flat.reshape(n, 320 * 180))
