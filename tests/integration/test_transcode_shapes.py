"""Real-world shapes through the real upload stream (issue 15): `vodlake upload`, Kafka, the
Spark foreachBatch transcode, the Delta catalog and the origin.

Three uploads in one batch: a 2.35:1 clip without audio, a portrait phone clip (stored
landscape with a 90 degree rotation) and a file that ffprobe reads but that does not decode
partway. The first two end `ready` and play (HLS master and DASH manifest decode end to end,
keyframes start every segment, the phone clip comes out upright and standing), the third ends
`failed` with ffmpeg's own reason and publishes nothing; the catalog records each source's
shape and colour. The rest of the corpus runs through the media layer alone
(test_media_corpus.py), which is the same code the executors run.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_transcode import run_cli, run_stream, set_args, snapshot
from tests.integration.test_transcode import vodlake_cmd as vodlake
from tests.media_corpus import CASES, build_case, gray_frame
from vodlake.catalog import uploads
from vodlake.lake import storage as st
from vodlake.media.verify import keyframe_at_segment_starts, verify_playable

LADDER = [
    {"name": "144p", "width": 256, "height": 144, "bitrate_kbps": 150},
    {"name": "180p", "width": 320, "height": 180, "bitrate_kbps": 300},
    {"name": "270p", "width": 480, "height": 270, "bitrate_kbps": 500},
]
BY_NAME = {c.name: c for c in CASES}
UPLOADS = {"wide": "cinema-235-silent", "phone": "phone-rot90", "broken": "damaged-midway"}


@pytest.fixture(scope="module")
def shapes(live_services, spark, tmp_path_factory) -> dict[str, Any]:
    from vodlake.config import load_config

    home = tmp_path_factory.mktemp("shapes")
    tree = {
        "paths": {"home": str(home)},
        "kafka": {"topics": {"uploads": f"uploads-shapes-{uuid.uuid4().hex[:10]}"}},
        "transcode": {
            "segment_seconds": 2,
            "segments_per_chunk": 1,
            "preset": "ultrafast",
            "ladder": LADDER,
        },
    }
    cfg = load_config("test", overrides=tree)
    ids = {}
    for key, name in UPLOADS.items():
        clip = build_case(BY_NAME[name], home / "media")
        if key == "broken":  # probes fine, so the CLI would take it too; in-process is quicker
            ids[key] = uploads.upload(cfg, clip, uploads.Metadata(title=key)).video_id
            continue
        proc = run_cli(vodlake("upload", str(clip), "--title", key, *set_args(tree)), timeout=180)
        assert proc.returncode == 0, proc.stderr
        ids[key] = proc.stdout.strip()
    reports = run_stream(spark, cfg)
    snap = snapshot(spark, cfg)
    # what a player reads: each ready video's folder, copied from the origin (local or S3)
    store = st.Storage.from_config(cfg)
    copies = home / "played"
    for key in ("wide", "phone"):
        row = snap["videos"][ids[key]]
        if row["status"] == "ready":
            folder = row["hls_uri"].rsplit("/", 1)[0]
            for rel in store.list_files(folder):
                store.get_file(st.join(folder, rel), copies / key / rel)
    return {
        "cfg": cfg,
        "tree": tree,
        "ids": ids,
        "reports": reports,
        "snap": snap,
        "store": store,
        "copies": copies,
    }


def played(shapes: dict, key: str, uri: str) -> Path:
    """The local copy of an origin file of the video `key` (see the fixture)."""
    folder = _video(shapes, key)["hls_uri"].rsplit("/", 1)[0]
    return shapes["copies"] / key / st.relative_to(uri, folder)


def _video(shapes: dict, key: str) -> dict[str, Any]:
    return shapes["snap"]["videos"][shapes["ids"][key]]


def _renditions(shapes: dict, key: str) -> dict[str, dict]:
    vid = shapes["ids"][key]
    return {r["rendition"]: r for r in shapes["snap"]["renditions"] if r["video_id"] == vid}


def test_wide_and_phone_clips_are_ready_and_the_broken_one_failed_alone(shapes) -> None:
    assert sum(r.transcoded for r in shapes["reports"]) == 3
    assert sum(r.ready for r in shapes["reports"]) == 2
    assert _video(shapes, "wide")["status"] == "ready", _video(shapes, "wide")["reason"]
    assert _video(shapes, "phone")["status"] == "ready", _video(shapes, "phone")["reason"]
    broken = _video(shapes, "broken")
    assert broken["status"] == "failed"
    assert re.search(r"damaged source: .* do not decode \(.+\)", broken["reason"]), broken
    assert not broken["reason"].rstrip().endswith("--")
    assert broken["hls_uri"] is None and _renditions(shapes, "broken") == {}
    root = st.join(shapes["cfg"].paths.origin, "videos", shapes["ids"]["broken"])
    for name in ("master.m3u8", "manifest.mpd"):
        assert not shapes["store"].exists(st.join(root, name)), "nothing published"


def test_catalog_records_shape_and_colour(shapes) -> None:
    wide, phone = _video(shapes, "wide"), _video(shapes, "phone")
    assert (wide["width"], wide["height"], wide["has_audio"]) == (480, 204, False)
    assert (phone["width"], phone["height"], phone["has_audio"]) == (270, 480, True)
    for row in (wide, phone):
        assert (row["pix_fmt"], row["bit_depth"], row["dynamic_range"]) == ("yuv420p", 8, "sdr")
    assert wide["renditions"] == ["144p", "180p", "270p"]
    assert phone["renditions"] == ["144p", "180p", "270p", "audio"]
    sizes = {n: (r["width"], r["height"]) for n, r in _renditions(shapes, "wide").items()}
    assert sizes == {"144p": (256, 108), "180p": (320, 136), "270p": (480, 204)}
    sizes = {
        n: (r["width"], r["height"])
        for n, r in _renditions(shapes, "phone").items()
        if r["kind"] == "video"
    }
    assert sizes == {"144p": (144, 256), "180p": (180, 320), "270p": (270, 480)}


def test_wide_clip_without_audio_plays_video_only(shapes) -> None:
    row = _video(shapes, "wide")
    master, mpd = played(shapes, "wide", row["hls_uri"]), played(shapes, "wide", row["dash_uri"])
    text = master.read_text()
    assert "TYPE=AUDIO" not in text and "mp4a" not in text
    assert "mp4a" not in mpd.read_text()
    for manifest in (master, mpd):
        streams = verify_playable(manifest)
        assert {s.kind for s in streams} == {"video"}
        assert sorted((s.width, s.height) for s in streams) == [(256, 108), (320, 136), (480, 204)]
        assert {s.frames for s in streams} == {round(row["duration_s"] * row["fps"])}
    assert keyframe_at_segment_starts(mpd) == []


def test_phone_clip_plays_upright_and_standing(shapes) -> None:
    row = _video(shapes, "phone")
    master, mpd = played(shapes, "phone", row["hls_uri"]), played(shapes, "phone", row["dash_uri"])
    for manifest in (master, mpd):
        streams = verify_playable(manifest)
        video = [s for s in streams if s.kind == "video"]
        assert all((s.height or 0) > (s.width or 0) for s in video), video
        assert {s.frames for s in video} == {round(row["duration_s"] * row["fps"])}
        (sound,) = [s for s in streams if s.kind == "audio"]
        assert sound.duration_s == pytest.approx(row["duration_s"], abs=0.05)
    assert keyframe_at_segment_starts(mpd) == []
    for r in (r for r in _renditions(shapes, "phone").values() if r["kind"] == "video"):
        luma = gray_frame(played(shapes, "phone", r["playlist_uri"]))
        quarter = luma.shape[0] // 4
        assert luma[: quarter - 2].mean() > 200 > luma[-quarter:].mean() + 60, r["rendition"]


def test_videos_command_shows_the_reason(shapes, capsys) -> None:
    from vodlake.cli import main

    assert main(["videos", "--json", *set_args({"paths": shapes["tree"]["paths"]})]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    rows = {r["video_id"]: r for r in map(json.loads, out)}
    assert rows[shapes["ids"]["broken"]]["reason"] == _video(shapes, "broken")["reason"]
    assert rows[shapes["ids"]["phone"]]["status"] == "ready"


# --- in a browser ---------------------------------------------------------------------------
PAGE = """<!doctype html><meta charset="utf-8"><title>vodlake playback check</title>
<video id="v" muted playsinline></video>
<script src="/lib/hls.min.js"></script><script src="/lib/dash.all.min.js"></script>
<script>
const q = new URLSearchParams(location.search), v = document.getElementById("v");
window.result = null;
function done(error) {
  if (window.result === null)
    window.result = {error, t: v.currentTime, w: v.videoWidth, h: v.videoHeight};
}
v.addEventListener("timeupdate", () => { if (v.currentTime > 1.0) done(null); });
v.addEventListener("error", () => done("video element: " + (v.error && v.error.message)));
if (q.get("kind") === "hls") {
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) done("hls.js: " + d.details); });
  hls.loadSource(q.get("src"));
  hls.attachMedia(v);
  hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(e => done(String(e))));
} else {
  const player = dashjs.MediaPlayer().create();
  player.on("error", e => done("dash.js: " + JSON.stringify(e.error)));
  player.initialize(v, q.get("src"), true);
}
</script>"""


def _dashjs(cfg) -> Path:
    """dash.js's dist file, fetched once with `npm pack` (the pinned version) into the cache."""
    from vodlake import versions

    target = Path(cfg.services.cache_dir) / "web" / f"dashjs-{versions.DASHJS_VERSION}"
    js = target / "dash.all.min.js"
    if not js.exists():
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target) as tmp:
            subprocess.run(
                ["npm", "pack", f"dashjs@{versions.DASHJS_VERSION}", "--silent",
                 "--pack-destination", tmp],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
            with tarfile.open(next(Path(tmp).glob("dashjs-*.tgz"))) as tar:
                member = tar.extractfile("package/dist/dash.all.min.js")
                assert member is not None
                js.with_suffix(".part").write_bytes(member.read())
                js.with_suffix(".part").replace(js)
    return js


@pytest.fixture(scope="module")
def site(shapes, tmp_path_factory):
    """The two videos as published (copied from the origin), hls.js, dash.js and a player
    page, served on 127.0.0.1 for chromium."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from vodlake.delivery.web import ensure_hlsjs

    cfg = shapes["cfg"]
    root = tmp_path_factory.mktemp("site")
    (root / "lib").mkdir()
    (root / "lib" / "hls.min.js").symlink_to(ensure_hlsjs(cfg))
    (root / "lib" / "dash.all.min.js").symlink_to(_dashjs(cfg))
    (root / "videos").symlink_to(shapes["copies"])
    (root / "player.html").write_text(PAGE)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_hls_and_dash_play_in_chromium(shapes, site, chromium_page) -> None:
    """hls.js and dash.js in Debian's chromium play both clips past one second, no error; the
    picture the browser shows has the clip's shape."""
    results = {}
    for key in ("wide", "phone"):
        row = _video(shapes, key)
        for kind, uri in (("hls", row["hls_uri"]), ("dash", row["dash_uri"])):
            rel = played(shapes, key, uri).relative_to(shapes["copies"]).as_posix()
            chromium_page.goto(f"{site}/player.html?kind={kind}&src=/videos/{rel}")
            chromium_page.wait_for_function("window.result !== null", timeout=120_000)
            results[(key, kind)] = chromium_page.evaluate("window.result")
    print(f"browser playback: {results}")
    for (key, kind), r in results.items():
        assert r["error"] is None, (key, kind, r)
        assert r["t"] > 1.0, (key, kind, r)
        if key == "wide":
            assert r["w"] / r["h"] == pytest.approx(480 / 204, rel=0.02), (key, kind, r)
        else:
            assert r["h"] > r["w"], (key, kind, r)
