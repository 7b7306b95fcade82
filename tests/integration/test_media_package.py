"""The whole media flow with real ffmpeg: plan -> encode every chunk -> audio -> package ->
verify that HLS and DASH decode end to end, segments line up, start on keyframes, hash right,
and that a second run gives the same bytes."""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.media_fixtures import Samples
from vodlake.errors import MediaError
from vodlake.media.encode import EncodeSettings, encode_audio, encode_chunk
from vodlake.media.package import PackageResult, package
from vodlake.media.plan import Rung, ladder_for, plan_chunks
from vodlake.media.probe import ProbeInfo, inspect
from vodlake.media.verify import (
    first_frame_is_keyframe,
    keyframe_at_segment_starts,
    verify_playable,
)

LADDER = [Rung("144p", 256, 144, 150), Rung("180p", 320, 180, 300), Rung("360p", 640, 360, 600)]
LIMITS_KW = {"max_width": 1920, "max_height": 1080, "max_duration_s": 600, "max_bytes": 10**9}


@dataclass
class Flow:
    info: ProbeInfo
    result: PackageResult
    rungs: list
    work: Path


def run_flow(
    source: Path,
    work: Path,
    segment_seconds: float = 2,
    segments_per_chunk: int = 2,
    settings: EncodeSettings | None = None,
    ladder: list | None = None,
) -> Flow:
    """What the Spark job will do, sequentially: one encode per chunk, audio once, package."""
    from vodlake.media.probe import Limits

    info = inspect(source, Limits(**LIMITS_KW))
    settings = settings or EncodeSettings(segment_seconds=segment_seconds, threads=1)
    rungs = ladder_for(info.width, info.height, ladder or LADDER)
    chunks = plan_chunks(info.duration_s or 0, segment_seconds, segments_per_chunk, fps=info.fps)
    files: dict[str, list[str]] = {r.name: [] for r in rungs}
    for chunk in chunks:
        for out in encode_chunk(source, chunk, rungs, settings, work / "chunks", info=info):
            files[out.rung_name].append(out.path)
    audio = encode_audio(source, work / "audio.mp4", 96, duration_s=info.duration_s, info=info)
    result = package("vid-1", files, audio, rungs, segment_seconds, work / "pkg")
    return Flow(info, result, rungs, work)


@pytest.fixture(scope="module")
def flow(samples: Samples, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    return run_flow(samples.clip9, tmp_path_factory.mktemp("flow"))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_layout(flow: Flow) -> None:
    root = Path(flow.result.out_dir)
    assert [r.name for r in flow.rungs] == ["144p", "180p"]  # 360p would upscale
    segs = [f"seg-{i:05d}.m4s" for i in range(1, 6)]
    expected = ["manifest.mpd", "master.m3u8"]
    for name in ("144p", "180p", "audio"):
        expected += [f"{name}/{f}" for f in ["init.m4s", "playlist.m3u8", *segs]]
    assert _files(root) == sorted(expected)
    # staging folders are gone
    assert sorted(p.name for p in root.parent.iterdir()) == ["audio.mp4", "chunks", "pkg"]
    assert flow.result.playlists["180p"] == str(root / "180p" / "playlist.m3u8")
    kinds = {r.name: (r.kind, r.width, r.height) for r in flow.result.renditions}
    assert kinds == {"144p": ("video", 256, 144), "180p": ("video", 320, 180),
                     "audio": ("audio", None, None)}  # fmt: skip


@pytest.mark.parametrize("manifest", ["master", "mpd", "playlists"])
def test_every_rendition_decodes_end_to_end(flow: Flow, manifest: str) -> None:
    r = flow.result
    targets = {"master": [r.master_playlist], "mpd": [r.mpd],
               "playlists": [r.playlists["144p"], r.playlists["180p"]]}[manifest]  # fmt: skip
    decoded = [s for t in targets for s in verify_playable(t)]
    video = sorted((s.width, s.height, s.frames) for s in decoded if s.kind == "video")
    assert video == [(256, 144, 225), (320, 180, 225)]  # every source frame, in every rung
    for s in decoded:
        if s.kind == "video":
            assert s.duration_s == pytest.approx(9.0, abs=1 / 25)
    if manifest != "playlists":
        (audio,) = [s for s in decoded if s.kind == "audio"]
        assert audio.duration_s == pytest.approx(9.0, abs=0.05)


def test_segments_line_up_and_add_up_to_the_source(flow: Flow) -> None:
    frame = 1 / flow.info.fps
    timelines = {}
    for name in ("144p", "180p"):
        segs = flow.result.segments_of(name)
        assert [s.index for s in segs] == list(range(5))
        assert [s.duration_s for s in segs] == [2.0, 2.0, 2.0, 2.0, 1.0]
        assert sum(s.duration_s for s in segs) == pytest.approx(flow.info.duration_s, abs=frame)
        timelines[name] = [(s.start_s, s.duration_s) for s in segs]
    assert timelines["144p"] == timelines["180p"]  # same boundaries in every rendition
    audio = flow.result.segments_of("audio")
    assert sum(s.duration_s for s in audio) == pytest.approx(9.0, abs=0.05)
    assert flow.result.duration_s == pytest.approx(9.0)


def test_hls_playlists_list_the_same_segments_as_the_mpd(flow: Flow) -> None:
    root = Path(flow.result.out_dir)
    for name in ("144p", "180p", "audio"):
        text = (root / name / "playlist.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
        assert '#EXT-X-MAP:URI="init.m4s"' in text
        assert "PROGRAM-DATE-TIME" not in text
        extinf = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", text)]
        segs = flow.result.segments_of(name)
        assert extinf == pytest.approx([s.duration_s for s in segs], abs=1e-5)
        uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        assert [f"{name}/{u}" for u in uris] == [s.path for s in segs]


def test_master_points_at_each_rendition_with_measured_bandwidth(flow: Flow) -> None:
    text = Path(flow.result.master_playlist).read_text()
    assert 'URI="audio/playlist.m3u8"' in text
    variants = re.findall(r"#EXT-X-STREAM-INF:([^\n]+)\n([^\n]+)", text)
    assert [uri for _, uri in variants] == ["144p/playlist.m3u8", "180p/playlist.m3u8"]
    for attrs, uri in variants:
        name = uri.split("/")[0]
        peak = int(re.search(r"(?<!-)BANDWIDTH=(\d+)", attrs).group(1))
        avg = int(re.search(r"AVERAGE-BANDWIDTH=(\d+)", attrs).group(1))
        video = flow.result.segments_of(name)[:-1]
        audio = flow.result.segments_of("audio")[:-1]
        expected = max(s.bytes * 8 / s.duration_s for s in video) + max(
            s.bytes * 8 / s.duration_s for s in audio
        )
        assert peak == pytest.approx(expected, abs=2)
        assert 0 < avg <= peak


def test_every_segment_starts_with_a_keyframe(flow: Flow) -> None:
    assert keyframe_at_segment_starts(flow.result.mpd) == []


def _boxes(data: bytes) -> list[tuple[str, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((kind.decode(), data[pos : pos + size]))
        pos += size
    return out


def test_keyframe_check_catches_a_segment_that_starts_mid_gop(
    samples: Samples, tmp_path: Path
) -> None:
    """A fragment per frame, no B-frames: fragment 0 is the IDR frame, fragment 3 a P frame."""
    frag = tmp_path / "frag.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(samples.clip9), "-t", "1", "-an", "-c:v", "libx264",
         "-g", "25", "-bf", "0", "-movflags", "frag_every_frame+empty_moov+default_base_moof",
         str(frag)],
        check=True,
    )  # fmt: skip
    boxes = _boxes(frag.read_bytes())
    init = b"".join(b for k, b in boxes if k in ("ftyp", "moov"))
    pairs = [b + boxes[i + 1][1] for i, (k, b) in enumerate(boxes) if k == "moof"]
    (tmp_path / "init.mp4").write_bytes(init)
    (tmp_path / "f0.m4s").write_bytes(pairs[0])
    (tmp_path / "f3.m4s").write_bytes(pairs[3])
    assert first_frame_is_keyframe(tmp_path / "init.mp4", tmp_path / "f0.m4s") == (True, "I")
    ok, what = first_frame_is_keyframe(tmp_path / "init.mp4", tmp_path / "f3.m4s")
    assert not ok, what


def test_recorded_sizes_and_hashes_match_the_files(flow: Flow) -> None:
    root = Path(flow.result.out_dir)
    entries = [*flow.result.segments, *flow.result.init_segments]
    assert len(flow.result.segments) == 15 and len(flow.result.init_segments) == 3
    for e in entries:
        data = (root / e.path).read_bytes()
        assert len(data) == e.bytes
        assert hashlib.sha256(data).hexdigest() == e.sha256


def test_a_second_run_gives_identical_bytes(flow: Flow, samples: Samples, tmp_path: Path) -> None:
    again = run_flow(samples.clip9, tmp_path)
    first_root, second_root = Path(flow.result.out_dir), Path(again.result.out_dir)
    assert _files(first_root) == _files(second_root)
    for rel in _files(first_root):  # segments, init segments, MPD and playlists
        assert (first_root / rel).read_bytes() == (second_root / rel).read_bytes(), rel
    assert [s.sha256 for s in again.result.segments] == [s.sha256 for s in flow.result.segments]
    # packaging again into the same folder replaces it with the same content
    chunks = {r.name: sorted(str(p) for p in (tmp_path / "chunks").glob(f"{r.name}_*.mp4"))
              for r in again.rungs}  # fmt: skip
    redo = package("vid-1", chunks, tmp_path / "audio.mp4", again.rungs, 2, tmp_path / "pkg")
    assert [s.sha256 for s in redo.segments] == [s.sha256 for s in flow.result.segments]


def test_ntsc_rate_segments_are_whole_frames(samples: Samples, tmp_path: Path) -> None:
    f = run_flow(samples.clip_ntsc, tmp_path, segment_seconds=1, segments_per_chunk=2)
    (rung,) = f.rungs
    assert (rung.width, rung.height) == (256, 144)
    segs = f.result.segments_of(rung.name)
    assert [s.duration_s for s in segs] == pytest.approx([1.001, 1.001, 1.001, 0.5005])
    assert sum(s.duration_s for s in segs) == pytest.approx(f.info.duration_s, abs=1 / f.info.fps)
    (video,) = [s for s in verify_playable(f.result.master_playlist) if s.kind == "video"]
    assert video.frames == 105
    assert keyframe_at_segment_starts(f.result.mpd) == []


def test_av1_without_audio(samples: Samples, tmp_path: Path) -> None:
    av1 = EncodeSettings(codec="av1", crf=35, preset="10", segment_seconds=1, threads=1)
    f = run_flow(samples.silent, tmp_path, segment_seconds=1, segments_per_chunk=2, settings=av1)
    assert "audio" not in {r.name for r in f.result.renditions}
    assert "EXT-X-MEDIA" not in Path(f.result.master_playlist).read_text()
    decoded = verify_playable(f.result.mpd)
    assert sorted(s.frames for s in decoded) == [75, 75] and {s.kind for s in decoded} == {"video"}
    assert keyframe_at_segment_starts(f.result.mpd) == []
    assert all(r.codecs.startswith("av01") for r in f.result.renditions)


def test_package_refuses_chunks_that_cannot_be_joined(flow: Flow, tmp_path: Path) -> None:
    chunks = sorted((flow.work / "chunks").glob("*.mp4"))
    small = [str(p) for p in chunks if p.name.startswith("144p_")]
    large = [str(p) for p in chunks if p.name.startswith("180p_")]
    with pytest.raises(MediaError, match="same, non-zero number of chunks"):
        package("v", {"144p": small, "180p": large[:2]}, None, flow.rungs, 2, tmp_path / "a")
    mixed = [small[0], large[1], small[2]]  # a chunk of another rung slipped in
    with pytest.raises(MediaError, match="rung 144p: chunk 1 was encoded differently"):
        package("v", {"144p": mixed, "180p": large}, None, flow.rungs, 2, tmp_path / "b")
    with pytest.raises(MediaError, match="do not match the ladder"):
        package("v", {"144p": small}, None, flow.rungs, 2, tmp_path / "c")
    assert list(tmp_path.iterdir()) == []
