"""The origin on the real object store (SeaweedFS, S3 API): no mocks.

1. upload -> transcode -> catalog -> search with every origin file on s3a:// (the shared store,
   under this module's own prefix); the HLS master answers a plain anonymous HTTP GET at the
   catalog's `origin_url`, a segment too, while the upload area, reports and anonymous writes
   are refused (403);
2. faults, on a PRIVATE store (its own ports and state dir, so the shared one is never
   stopped): the store down at upload is one error line and nothing on Kafka; the store
   stopped in the middle of a batch fails the video with a reason that names the store, no
   partial video is visible, and the stream goes on; stopped and back within Spark's retry
   window, the video ends ready.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge_fixtures import free_objectstore_ports
from vodlake.catalog import uploads
from vodlake.lake import storage as st
from vodlake.media.samples import make_sample

pytestmark = pytest.mark.integration

LADDER = [{"name": "144p", "width": 256, "height": 144, "bitrate_kbps": 150}]


def overrides(home: Path, topic: str, **more: Any) -> dict[str, Any]:
    tree: dict[str, Any] = {
        "paths": {"home": str(home)},
        "kafka": {"topics": {"uploads": topic}},
        "transcode": {
            "segment_seconds": 2,
            "segments_per_chunk": 1,
            "preset": "ultrafast",
            "ladder": LADDER,
        },
    }
    for key, value in more.items():
        tree[key] = {**tree.get(key, {}), **value}
    return tree


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A plain anonymous GET, as an edge would do it."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def run_stream(spark, cfg) -> list:
    from vodlake.catalog import stream

    reports: list = []
    query = stream.start(spark, cfg, once=True, reports=reports)
    query.awaitTermination()
    assert query.exception() is None
    return reports


def video_row(spark, cfg, video_id: str) -> dict[str, Any]:
    from vodlake.lake.tables import Tables

    rows = Tables(cfg).read(spark, "videos").where(f"video_id = '{video_id}'").collect()
    return rows[0].asDict()


# --- 1. the pipeline on the shared store ----------------------------------------------------
@pytest.fixture(scope="module")
def story(live_services, spark, tmp_path_factory) -> Iterator[dict[str, Any]]:
    from vodlake.commands.videos import list_videos
    from vodlake.config import load_config
    from vodlake.search import index as search
    from vodlake.search.sync import sync_search

    home = tmp_path_factory.mktemp("origin")
    prefix = f"vodlake-test-origin-{uuid.uuid4().hex[:8]}"
    cfg = load_config(
        "test",
        overrides=overrides(
            home, f"uploads-{uuid.uuid4().hex[:10]}", elasticsearch={"index_prefix": prefix}
        ),
    )
    clip = make_sample(home / "media" / "clip.mp4", 4, 320, 180, source="mandelbrot")
    first = uploads.upload(cfg, clip, uploads.Metadata(title="Harbour Lights", tags=("sea",)))
    run_stream(spark, cfg)
    sync_search(spark, cfg)
    es = search.client(cfg)
    es.indices.refresh(index=search.alias_name(cfg))
    yield {
        "cfg": cfg,
        "upload": first,
        "row": video_row(spark, cfg, first.video_id),
        "listed": {r["video_id"]: r for r in list_videos(cfg)},
        "hits": search.search_videos(es, cfg, "harbor lights"),  # a typo on purpose
    }
    found = es.options(ignore_status=404).indices.get(index=f"{prefix}-*")
    for name in found.body if hasattr(found, "body") else found:
        es.options(ignore_status=404).indices.delete(index=name)


def test_the_video_is_ready_searchable_and_every_origin_file_is_on_s3a(story) -> None:
    cfg, row = story["cfg"], story["row"]
    assert row["status"] == "ready", row["reason"]
    root = st.join(cfg.paths.origin, "videos", row["video_id"])
    assert root.startswith("s3a://vodlake-origin/test/")  # this module's own prefix
    assert row["hls_uri"] == f"{root}/master.m3u8" and row["dash_uri"] == f"{root}/manifest.mpd"
    assert row["source_uri"].startswith(f"{cfg.paths.origin}/uploads/")
    files = st.Storage.from_config(cfg).list_files(root)
    assert {"master.m3u8", "manifest.mpd"} <= set(files)
    assert sum(f.endswith(".m4s") for f in files) >= 3  # init + 2 s segments of 4 s, per track
    assert [h["video_id"] for h in story["hits"]][:1] == [row["video_id"]]


def test_origin_url_answers_an_anonymous_get_with_the_master(story) -> None:
    cfg, row = story["cfg"], story["row"]
    listed = story["listed"][row["video_id"]]
    assert listed["hls_uri"] == row["hls_uri"]
    url = listed["origin_url"]
    assert url == st.public_url(cfg, row["hls_uri"])
    assert url.startswith("http://127.0.0.1:8333/vodlake-origin/test/")
    status, body = http_get(url)
    assert status == 200 and body.startswith(b"#EXTM3U"), (status, body[:200])
    # a segment named by the master's media playlist, whole and by range
    playlist_rel = next(ln for ln in body.decode().splitlines() if ln.endswith(".m3u8"))
    base = url.rsplit("/", 1)[0]
    status, media = http_get(f"{base}/{playlist_rel}")
    assert status == 200
    seg = next(ln for ln in media.decode().splitlines() if ln and not ln.startswith("#"))
    seg_url = f"{base}/{playlist_rel.rsplit('/', 1)[0]}/{seg}"
    status, data = http_get(seg_url)
    folder = row["hls_uri"].rsplit("/", 1)[0]
    stored = st.Storage.from_config(cfg).read_bytes(
        f"{folder}/{playlist_rel.rsplit('/', 1)[0]}/{seg}"
    )
    assert status == 200 and data == stored and len(data) > 0
    assert http_get(seg_url, {"Range": "bytes=0-99"}) == (206, stored[:100])


def test_segments_go_up_in_one_put_and_large_files_in_parts(story, tmp_path) -> None:
    """An S3 ETag is the body's MD5 for a single PutObject and `<md5 of md5s>-<parts>` for a
    multipart upload, so the store itself tells how each object was written."""
    import hashlib

    cfg, row = story["cfg"], story["row"]
    storage = st.Storage.from_config(cfg)
    client = st.S3Options.from_hadoop(st.hadoop_s3a_conf(cfg)).boto3_client()
    folder = row["hls_uri"].rsplit("/", 1)[0]
    seg = next(f for f in storage.list_files(folder) if f.endswith(".m4s"))
    bucket, _, key = st.parse_uri(f"{folder}/{seg}").path.partition("/")
    etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    assert etag == hashlib.md5(storage.read_bytes(f"{folder}/{seg}")).hexdigest()

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(st.SINGLE_PUT_MAX + 1))
    target = f"{cfg.paths.origin}/uploads/etag-{uuid.uuid4().hex[:8]}.bin"
    try:
        assert storage.put_file(big, target) == big.stat().st_size
        bucket, _, key = st.parse_uri(target).path.partition("/")
        assert "-" in client.head_object(Bucket=bucket, Key=key)["ETag"]
        assert storage.read_bytes(target) == big.read_bytes()
    finally:
        storage.delete(target)


def test_the_upload_area_reports_and_anonymous_writes_are_refused(story) -> None:
    cfg, row = story["cfg"], story["row"]
    endpoint = cfg.objectstore.endpoint
    source = st.parse_uri(row["source_uri"]).path
    assert http_get(f"{endpoint}/{source}")[0] == 403
    report = st.join(cfg.paths.reports, "placement_eval", "x.json")
    st.Storage.from_config(cfg).put_bytes(b"{}", report)
    assert http_get(f"{endpoint}/{st.parse_uri(report).path}")[0] == 403
    listing = http_get(f"{endpoint}/{cfg.objectstore.bucket}?list-type=2")
    assert listing[0] == 403
    put = urllib.request.Request(f"{story['listed'][row['video_id']]['origin_url']}", b"x",
                                 method="PUT")  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(put, timeout=10)
    assert refused.value.code == 403


# --- 2. faults on a private store -----------------------------------------------------------
@pytest.fixture
def private_store(tmp_path) -> Iterator[tuple[dict[str, Any], Any]]:
    """(config overrides that point at it, its service) for a store only this test uses."""
    from vodlake.config import load_config
    from vodlake.services.objectstore import ObjectStoreService

    s3, master, volume, filer = free_objectstore_ports(4)
    tree = {
        "services": {
            "state_dir": str(tmp_path / "services"),
            "objectstore": {
                "master_port": master,
                "volume_port": volume,
                "filer_port": filer,
                "stop_timeout_s": 0.2,  # a crash, not a polite stop
            },
        },
        "objectstore": {"endpoint": f"http://127.0.0.1:{s3}"},
    }
    svc = ObjectStoreService(load_config("test", overrides={**tree, "paths": {"home": "/x"}}))
    svc.up()
    try:
        yield tree, svc
    finally:
        svc.down()  # raises if anything is left
        assert not any(_open(p) for p in svc.ports)


def _open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.3):
        return True
    return False


def test_upload_with_the_store_down_is_one_error_line_and_nothing_is_sent(
    live_services, private_store, tmp_path
) -> None:
    from vodlake.config import load_config
    from vodlake.lake import kafka_io

    tree, svc = private_store
    topic = f"uploads-{uuid.uuid4().hex[:10]}"
    over = {**overrides(tmp_path / "home", topic), **tree}
    clip = make_sample(tmp_path / "clip.mp4", 1, 160, 90)
    svc.down()
    sets = [
        "--set", f"paths.home={tmp_path / 'home'}", "--set", f"kafka.topics.uploads={topic}",
        "--set", f"objectstore.endpoint={tree['objectstore']['endpoint']}",
    ]  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "vodlake"), "upload", str(clip), "--title", "X", *sets],
        capture_output=True, text=True, timeout=120, env={**os.environ, "VODLAKE_ENV": "test"},
    )  # fmt: skip
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: could not store the upload"), proc.stderr
    assert "object store" in lines[0] and "Traceback" not in proc.stderr
    assert len(lines) == 2 and lines[1].startswith("hint:"), proc.stderr
    cfg = load_config("test", overrides=over)
    assert sum(kafka_io.end_offsets(cfg, topic).values()) == 0  # nothing on Kafka


def _when_units_appear(work: Path, then: Callable[[], None]) -> threading.Thread:
    """Run `then` as soon as the first encoded unit lands in the (local) work area."""

    def watch() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if any(p.is_file() for p in work.rglob("*")):
                then()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_store_stopped_mid_batch_fails_the_video_naming_the_store_and_nothing_is_visible(
    live_services, spark, private_store, tmp_path
) -> None:
    from vodlake.config import load_config

    tree, svc = private_store
    cfg = load_config(
        "test", overrides={**overrides(tmp_path / "home", f"up-{uuid.uuid4().hex[:10]}"), **tree}
    )
    clip = make_sample(tmp_path / "clip.mp4", 10, 320, 180, source="mandelbrot")
    sent = uploads.upload(cfg, clip, uploads.Metadata(title="Lost at sea"))
    watcher = _when_units_appear(Path(cfg.paths.work), svc.down)
    run_stream(spark, cfg)  # the query ends normally: the stream is not taken down
    watcher.join(30)
    row = video_row(spark, cfg, sent.video_id)
    assert row["status"] == "failed" and row["hls_uri"] is None
    assert "object store at 127.0.0.1:" in row["reason"], row["reason"]
    svc.up()  # back: nothing of the failed video is there to be fetched
    root = st.join(cfg.paths.origin, "videos", sent.video_id)
    assert not st.Storage.from_config(cfg).exists(f"{root}/master.m3u8")
    assert http_get(st.public_url(cfg, f"{root}/master.m3u8"))[0] == 404
    # and the stream goes on: the next event is transcoded as usual
    again = uploads.upload(cfg, clip, uploads.Metadata(title="Found"), video_id="found-again")
    run_stream(spark, cfg)
    assert video_row(spark, cfg, again.video_id)["status"] == "ready"


def test_store_back_within_the_retry_window_the_video_is_ready(
    live_services, private_store, tmp_path
) -> None:
    from vodlake.config import load_config

    tree, svc = private_store
    over = overrides(
        tmp_path / "home",
        f"up-{uuid.uuid4().hex[:10]}",
        transcode={"store_retry_wait_s": 6, "max_attempts": 4},
    )
    cfg = load_config("test", overrides={**over, **tree})
    clip = make_sample(tmp_path / "clip.mp4", 10, 320, 180, source="mandelbrot")
    sent = uploads.upload(cfg, clip, uploads.Metadata(title="Back again"))

    def outage() -> None:
        svc.down()
        time.sleep(1.0)
        svc.up()

    watcher = _when_units_appear(Path(cfg.paths.work), outage)
    from tests.integration.test_transcode import run_cli, set_args, vodlake_cmd

    proc = run_cli(
        vodlake_cmd("stream", "uploads", "--once", "--master", "local[2,4]",
                    *set_args({**over, **tree})),
    )  # fmt: skip
    watcher.join(60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 ready, 0 failed" in proc.stderr, proc.stderr[-3000:]
    assert "ObjectStoreError" in proc.stderr  # the outage was seen, and retried past
    root = st.join(cfg.paths.origin, "videos", sent.video_id)
    status, body = http_get(st.public_url(cfg, f"{root}/master.m3u8"))
    assert status == 200 and body.startswith(b"#EXTM3U")


# --- 3. the whole lake on s3a -----------------------------------------------------------------
@pytest.mark.slow
def test_the_whole_lake_on_s3a(live_services, spark, tmp_path) -> None:
    """objectstore.lake_on_s3a: every Delta table (catalog, search sync state) in the lake
    bucket, written through Spark's s3a and Delta's single-driver S3 log store."""
    from vodlake.config import load_config
    from vodlake.lake.tables import Tables
    from vodlake.search import index as search
    from vodlake.search.sync import sync_search

    unique = uuid.uuid4().hex[:10]
    prefix = f"vodlake-test-lake-{unique}"
    cfg = load_config(
        "test",
        overrides=overrides(
            tmp_path / "home",
            f"uploads-{unique}",
            objectstore={"lake_on_s3a": True, "lake_prefix": f"test/{unique}/lake"},
            elasticsearch={"index_prefix": prefix},
        ),
    )
    assert cfg.paths.lake == f"s3a://vodlake-lake/test/{unique}/lake"
    clip = make_sample(tmp_path / "clip.mp4", 2, 160, 90)
    sent = uploads.upload(cfg, clip, uploads.Metadata(title="Lake Effect"))
    run_stream(spark, cfg)
    assert video_row(spark, cfg, sent.video_id)["status"] == "ready"
    sync_search(spark, cfg)
    es = search.client(cfg)
    try:
        es.indices.refresh(index=search.alias_name(cfg))
        hits = search.search_videos(es, cfg, "lake effect")
        assert [h["video_id"] for h in hits][:1] == [sent.video_id]
    finally:
        found = es.options(ignore_status=404).indices.get(index=f"{prefix}-*")
        for name in found.body if hasattr(found, "body") else found:
            es.options(ignore_status=404).indices.delete(index=name)
    store = st.Storage.from_config(cfg)
    for table in ("videos", "renditions", "segments"):
        path = Tables(cfg).path(table)
        assert path.startswith("s3a://vodlake-lake/"), path
        assert any(f.startswith("_delta_log/") for f in store.list_files(path)), table
    assert not Path(tmp_path / "home" / "lake").exists()  # nothing of the lake on local disk


def test_manifests_on_s3a_are_replaced_in_place_without_folder_renames(story, spark) -> None:
    """On an object store a folder rename copies every object, so manifests are overwritten
    object by object and extra files deleted: no staging or previous sibling ever appears."""
    from vodlake.lake import fs

    cfg = story["cfg"]
    storage = st.Storage.from_config(cfg)
    parent = f"{cfg.paths.origin}/manifests-{uuid.uuid4().hex[:8]}"
    target = f"{parent}/date=2026-11-30"
    try:
        fs.replace_folder(spark, target, {"edge-a.json": b"1", "edge-b.json": b"2"})
        uris = fs.replace_folder(spark, target, {"edge-a.json": b"3"})
        assert uris == [f"{target}/edge-a.json"]
        assert storage.file_sizes(parent) == {"date=2026-11-30/edge-a.json": 1}
        assert storage.read_bytes(uris[0]) == b"3"
    finally:
        storage.delete(parent)
