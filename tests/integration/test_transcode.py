"""Upload to playable video against the real Kafka broker, Spark, Delta and ffmpeg.

One module-wide story on its own topic, origin and tables (tiny clips, a 2-rung ladder,
ultrafast preset):
1. one good video and every kind of bad input are uploaded and transcoded in ONE batch;
2. the good video plays (HLS and DASH decode end to end), its segments add up to the source
   duration and start on keyframes; each bad input failed with its reason;
3. the same file is uploaded again (with the `vodlake upload` command) and transcoded by a
   separate driver whose master allows task retries, with a test hook that fails the first
   attempt of one unit: Spark retries it, the video is ready again, with the same segment
   hashes and no duplicate catalog rows;
4. a late and a duplicated event change nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from vodlake.catalog import uploads
from vodlake.lake import storage as st
from vodlake.media import probe
from vodlake.media.samples import make_sample
from vodlake.media.verify import keyframe_at_segment_starts, verify_playable

pytestmark = pytest.mark.integration

LADDER = [
    {"name": "144p", "width": 256, "height": 144, "bitrate_kbps": 150},
    {"name": "180p", "width": 320, "height": 180, "bitrate_kbps": 300},
]
BAD_REASONS = {
    "bad-zero": r"^empty file \(0 bytes\)$",
    "bad-trunc": r"^truncated",
    "bad-text": r"^not a video: format not recognised",
    "bad-audio": r"^not a video: no video stream \(audio only\)$",
    "bad-big": r"^resolution too high: width 640 px exceeds the limit of 480 px$",
    "bad-escape": r"outside the upload root|scheme 'file' is not allowed",
    "bad-dotdot": r"contains '\.' or '\.\.'",
}


def overrides(home: Path, topic: str) -> dict[str, Any]:
    return {
        "paths": {"home": str(home)},
        "kafka": {"topics": {"uploads": topic}},
        "transcode": {
            "segment_seconds": 2,
            "segments_per_chunk": 1,
            "preset": "ultrafast",
            "ladder": LADDER,
            "limits": {"max_width": 480, "max_height": 270, "max_duration_s": 60},
        },
    }


def set_args(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Nested overrides -> repeated `--set key=yaml` arguments for a vodlake command."""
    out: list[str] = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += set_args(value, f"{name}.")
        else:
            dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
            out += ["--set", f"{name}={dumped.removesuffix('...').strip()}"]
    return out


def vodlake_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "vodlake"), *args]


def run_cli(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VODLAKE_ENV": "test", "PYSPARK_PYTHON": sys.executable}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)


def store(cfg) -> st.Storage:
    return st.Storage.from_config(cfg)


def download(cfg, manifest_uri: str, dest: Path) -> Path:
    """The manifest's whole video folder from the origin (object store) to `dest`; returns
    the local manifest, so ffmpeg reads it as a player would."""
    folder = manifest_uri.rsplit("/", 1)[0]
    for rel in store(cfg).list_files(folder):
        store(cfg).get_file(st.join(folder, rel), dest / rel)
    return dest / manifest_uri.rsplit("/", 1)[1]


def snapshot(spark, cfg) -> dict[str, Any]:
    """The catalog as plain Python, so later runs cannot change what a test looks at."""
    from vodlake.lake.tables import Tables

    t = Tables(cfg)
    return {
        "videos": {r.video_id: r.asDict() for r in t.read(spark, "videos").collect()},
        "renditions": [r.asDict() for r in t.read(spark, "renditions").collect()],
        "segments": [r.asDict() for r in t.read(spark, "segments").collect()],
    }


def run_stream(spark, cfg) -> list:
    from vodlake.catalog import stream

    reports: list = []
    query = stream.start(spark, cfg, once=True, reports=reports)
    query.awaitTermination()  # raises the query's exception if it failed
    return reports


@pytest.fixture(scope="module")
def story(live_services, spark, tmp_path_factory) -> dict[str, Any]:
    from vodlake.config import load_config

    home = tmp_path_factory.mktemp("transcode")
    topic = f"uploads-{uuid.uuid4().hex[:10]}"
    tree = overrides(home, topic)
    cfg = load_config("test", overrides=tree)
    media = home / "media"
    good = make_sample(media / "good.mp4", 5, 320, 180, source="testsrc2", tone_hz=440)
    big = make_sample(media / "big.mp4", 1, 640, 360)
    zero = media / "zero.mp4"
    zero.write_bytes(b"")
    trunc = media / "trunc.mp4"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size * 6 // 10])
    text = media / "notes.mp4"
    text.write_text("These are meeting notes, not a video.\n" * 20)
    audio = make_sample(media / "audio.mp4", 2, 320, 180)
    audio_only = media / "audio_only.m4a"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(audio), "-vn", "-c", "copy",
         str(audio_only)],
        check=True,
    )  # fmt: skip

    meta = uploads.Metadata(title="Good", tags=("test",), language="en")
    first = uploads.upload(cfg, good, meta)
    for vid, path in (("bad-zero", zero), ("bad-trunc", trunc), ("bad-text", text),
                      ("bad-audio", audio_only), ("bad-big", big)):  # fmt: skip
        uploads.upload(cfg, path, uploads.Metadata(title=vid), video_id=vid, check=False)
    root = cfg.paths.uploads.rstrip("/")
    uploads.send(
        cfg,
        [
            uploads.make_event(
                "bad-escape", "uploaded", 1, source_uri="file:///etc/passwd",
                metadata=uploads.Metadata(title="escape"),
            ),
            uploads.make_event(
                "bad-dotdot", "uploaded", 1, source_uri=f"{root}/../../media/good.mp4",
                metadata=uploads.Metadata(title="dotdot"),
            ),
        ],
    )  # fmt: skip
    # not an upload event at all: reported with its Kafka position, never dropped silently
    uploads.send(cfg, [{"video_id": "junk", "hello": "world"}])
    reports = run_stream(spark, cfg)
    return {
        "cfg": cfg,
        "tree": tree,
        "good": good,
        "first": first,
        "reports": reports,
        "after_first": snapshot(spark, cfg),
    }


def good_rows(snap: dict[str, Any], vid: str) -> tuple[dict, list[dict], list[dict]]:
    video = snap["videos"][vid]
    rends = [r for r in snap["renditions"] if r["video_id"] == vid]
    segs = [s for s in snap["segments"] if s["video_id"] == vid]
    return video, rends, segs


def test_one_batch_good_video_ready_each_bad_input_failed_with_its_reason(story) -> None:
    videos = story["after_first"]["videos"]
    good_id = story["first"].video_id
    assert videos[good_id]["status"] == "ready", videos[good_id]["reason"]
    assert sum(r.ready for r in story["reports"]) == 1
    assert sum(r.invalid for r in story["reports"]) == 1 and "junk" not in videos
    assert sum(r.transcoded for r in story["reports"]) == 1 + len(BAD_REASONS)
    for vid, pattern in BAD_REASONS.items():
        row = videos[vid]
        assert row["status"] == "failed", (vid, row)
        assert re.search(pattern, row["reason"] or ""), (vid, row["reason"])
        assert row["renditions"] is None and row["hls_uri"] is None
    # failed videos have no outputs: no rows, no files
    failed_rows = [r for r in story["after_first"]["segments"] if r["video_id"] in BAD_REASONS]
    assert failed_rows == []
    cfg = story["cfg"]
    files = store(cfg).list_files(st.join(cfg.paths.origin, "videos"))
    assert sorted({f.split("/")[0] for f in files}) == [good_id]


def test_catalog_describes_the_video(story) -> None:
    vid = story["first"].video_id
    video, rends, segs = good_rows(story["after_first"], vid)
    info = probe(story["good"])
    assert (video["width"], video["height"], video["has_audio"]) == (320, 180, True)
    assert video["duration_s"] == pytest.approx(info.duration_s)
    assert (video["title"], video["tags"], video["language"]) == ("Good", ["test"], "en")
    assert video["source_sha256"] == story["first"].sha256
    assert video["renditions"] == ["144p", "180p", "audio"]
    cfg = story["cfg"]
    root = st.join(cfg.paths.origin, "videos", vid)
    assert root.startswith("s3a://")  # the origin is the object store
    assert video["hls_uri"] == f"{root}/master.m3u8"
    assert video["dash_uri"] == f"{root}/manifest.mpd"
    by_name = {r["rendition"]: r for r in rends}
    assert set(by_name) == {"144p", "180p", "audio"}
    assert (by_name["180p"]["width"], by_name["180p"]["height"]) == (320, 180)
    assert (by_name["144p"]["width"], by_name["144p"]["height"]) == (256, 144)
    assert by_name["audio"]["kind"] == "audio" and by_name["audio"]["codec"] == "aac"
    origin = store(cfg)
    for r in rends:
        assert origin.exists(r["playlist_uri"]) and origin.exists(r["init_uri"])
        segs_r = [s for s in segs if s["rendition"] == r["rendition"]]
        assert r["segments"] == len(segs_r) == 3  # 5 s in 2 s segments
        assert r["bytes"] == sum(s["bytes"] for s in segs_r) + origin.size(r["init_uri"])
    for s in segs:  # every recorded hash is the file's
        data = origin.read_bytes(s["uri"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (s["bytes"], s["sha256"])


def test_hls_and_dash_decode_every_rendition_end_to_end(story, tmp_path) -> None:
    video = story["after_first"]["videos"][story["first"].video_id]
    info = probe(story["good"])
    frames = round(info.duration_s * info.fps)
    for manifest in (video["hls_uri"], video["dash_uri"]):
        streams = verify_playable(download(story["cfg"], manifest, tmp_path / "got"))
        pictures = sorted((s.width, s.height, s.frames) for s in streams if s.kind == "video")
        assert pictures == [(256, 144, frames), (320, 180, frames)], manifest
        sound = [s for s in streams if s.kind == "audio"]
        assert len(sound) == 1 and sound[0].duration_s == pytest.approx(info.duration_s, abs=0.1)


def test_segment_durations_add_up_to_the_source_within_a_frame(story) -> None:
    _, _, segs = good_rows(story["after_first"], story["first"].video_id)
    info = probe(story["good"])
    for name in ("144p", "180p", "audio"):
        mine = sorted((s for s in segs if s["rendition"] == name), key=lambda s: s["chunk_idx"])
        assert [s["chunk_idx"] for s in mine] == [0, 1, 2]
        assert sum(s["duration_s"] for s in mine) == pytest.approx(
            info.duration_s, abs=1 / info.fps
        ), name
        for a, b in itertools.pairwise(mine):  # contiguous
            assert b["start_s"] == pytest.approx(a["start_s"] + a["duration_s"], abs=1e-6)


def test_every_segment_starts_with_a_keyframe(story, tmp_path) -> None:
    video = story["after_first"]["videos"][story["first"].video_id]
    dash = download(story["cfg"], video["dash_uri"], tmp_path)
    assert keyframe_at_segment_starts(dash) == []


def test_videos_command_lists_the_catalog(story, capsys) -> None:
    from vodlake.cli import main

    code = main(["videos", "--json", *set_args({"paths": story["tree"]["paths"]})])
    assert code == 0
    rows = {r["video_id"]: r for r in map(json.loads, capsys.readouterr().out.strip().splitlines())}
    good = rows[story["first"].video_id]
    assert (good["status"], good["renditions"]) == ("ready", ["144p", "180p", "audio"])
    assert good["hls_uri"].endswith("master.m3u8") and good["dash_uri"].endswith("manifest.mpd")
    assert good["origin_url"] == st.public_url(story["cfg"], good["hls_uri"])
    assert rows["bad-zero"]["origin_url"] is None
    assert rows["bad-zero"]["reason"] == "empty file (0 bytes)"


def test_change_feed_records_the_status_transitions(story, spark) -> None:
    from vodlake.lake.tables import Tables

    path = Tables(story["cfg"]).path("videos")
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", 0)
        .load(path)
        .where(f"video_id = '{story['first'].video_id}'")
        .where("_change_type IN ('insert', 'update_postimage')")
        .orderBy("_commit_version")
        .collect()
    )
    assert [r.status for r in changes][:3] == ["uploaded", "transcoding", "ready"]


@pytest.fixture(scope="module")
def rerun(story, spark) -> dict[str, Any]:
    """Upload the same file again with the CLI, then transcode in a separate driver on
    local[2,3] (Spark retries tasks) with the first attempt of unit 1 failing on purpose."""
    tree = story["tree"]
    up = run_cli(
        vodlake_cmd("upload", str(story["good"]), "--title", "Good", "--tags", "test",
                    "--language", "en", *set_args(tree)),
        timeout=120,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    hooked = {**tree, "transcode": {**tree["transcode"], "fail_first_attempt": ["*/1"]}}
    proc = run_cli(
        vodlake_cmd("stream", "uploads", "--once", "--master", "local[2,3]", *set_args(hooked))
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        "video_id": up.stdout.strip(),
        "log": proc.stderr,
        "snap": snapshot(spark, story["cfg"]),
    }


def test_a_unit_whose_first_attempt_fails_is_retried_and_the_video_is_ready(story, rerun) -> None:
    vid = story["first"].video_id
    assert rerun["video_id"] == vid  # same content, same video
    video, _, segs = good_rows(rerun["snap"], vid)
    assert video["status"] == "ready", video["reason"]
    assert video["seq"] > story["after_first"]["videos"][vid]["seq"]
    assert "1 ready, 0 failed" in rerun["log"]
    attempts = {(s["rendition"], s["unit_idx"]): s["attempt"] for s in segs}
    assert {k: v for k, v in attempts.items() if k[1] == 1} == {("144p", 1): 1, ("180p", 1): 1}
    assert {v for k, v in attempts.items() if k[1] != 1} == {0}


def test_the_same_upload_again_is_idempotent(story, rerun) -> None:
    vid = story["first"].video_id
    _, rends0, segs0 = good_rows(story["after_first"], vid)
    _, rends1, segs1 = good_rows(rerun["snap"], vid)

    def hashes(segs: list[dict]) -> dict:
        return {(s["rendition"], s["chunk_idx"]): (s["sha256"], s["uri"]) for s in segs}

    assert hashes(segs1) == hashes(segs0)  # same bytes at the same paths
    assert len(segs1) == len(hashes(segs1)) == len(segs0)  # no duplicate rows
    assert len(rends1) == len({r["rendition"] for r in rends1}) == len(rends0)
    assert len(rerun["snap"]["videos"]) == len(story["after_first"]["videos"])


def test_late_and_duplicate_events_do_not_overwrite_newer_state(story, rerun, spark) -> None:
    cfg = story["cfg"]
    vid = story["first"].video_id
    before = rerun["snap"]["videos"][vid]
    late = uploads.make_event(
        vid, "metadata_updated", story["first"].seq, metadata=uploads.Metadata(title="Stale")
    )
    older_upload = {**story["first"].event, "event_id": str(uuid.uuid4())}
    duplicate = uploads.make_event(  # the current seq again
        vid, "uploaded", before["seq"], source_uri=before["source_uri"],
        metadata=uploads.Metadata(title="Duplicate"),
    )  # fmt: skip
    uploads.send(cfg, [late, older_upload, duplicate])
    reports = run_stream(spark, cfg)
    assert sum(r.events for r in reports) == 3 and sum(r.transcoded for r in reports) == 0
    after = snapshot(spark, cfg)
    assert after["videos"][vid] == before
    assert sorted(after["segments"], key=str) == sorted(rerun["snap"]["segments"], key=str)


def test_delete_removes_files_and_catalog_rows(story, rerun, spark) -> None:
    cfg = story["cfg"]
    vid = story["first"].video_id
    folder = story["after_first"]["videos"][vid]["hls_uri"].rsplit("/", 1)[0]
    assert store(cfg).list_files(folder)
    uploads.delete(cfg, vid)
    reports = run_stream(spark, cfg)
    assert sum(r.deleted for r in reports) == 1
    after = snapshot(spark, cfg)
    video = after["videos"][vid]
    assert (video["status"], video["hls_uri"], video["renditions"]) == ("deleted", None, None)
    assert [r for r in after["renditions"] if r["video_id"] == vid] == []
    assert [s for s in after["segments"] if s["video_id"] == vid] == []
    assert store(cfg).list_files(folder) == []
