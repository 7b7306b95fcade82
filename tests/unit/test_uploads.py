"""Upload helpers (events, content-addressed storing), the executor-side spec, the local-mode
retry master and the upload batch's pure steps, without Kafka, Spark or ffmpeg."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from vodlake.catalog import transcode
from vodlake.catalog.stream import Outcome, final_rows, split_work, with_local_retries
from vodlake.catalog.uploads import (
    Metadata,
    check_video_id,
    make_event,
    split_list,
    store_source,
    video_id_for,
)
from vodlake.errors import VodlakeError
from vodlake.lake.storage import parse_uri


def test_split_list() -> None:
    assert split_list(" drama, family,,drama ") == ("drama", "family")
    assert split_list(None) == () and split_list(["a", " ", "b"]) == ("a", "b")


@pytest.mark.parametrize("vid", ["v1", "abc-DEF_9", "x" * 64])
def test_good_video_ids(vid: str) -> None:
    assert check_video_id(vid) == vid


@pytest.mark.parametrize("vid", ["", "-x", "../x", "a/b", "a b", "v1\n", "x" * 65, "é"])
def test_bad_video_ids(vid: str) -> None:
    with pytest.raises(VodlakeError, match="bad video id"):
        check_video_id(vid)


def test_video_id_comes_from_the_content_hash() -> None:
    assert video_id_for("0123456789abcdef" + "0" * 48) == "v0123456789abcdef"


def test_make_event_checks_what_it_builds() -> None:
    e = make_event("v1", "uploaded", 7, source_uri="file:///u/x.mp4", metadata=Metadata("T"))
    assert (e["type"], e["seq"], e["title"], e["tags"]) == ("uploaded", 7, "T", None)
    assert e["event_time"].endswith("Z")
    with pytest.raises(VodlakeError, match="source_uri"):
        make_event("v1", "uploaded", 1)
    with pytest.raises(VodlakeError, match="unknown event type"):
        make_event("v1", "renamed", 1)
    with pytest.raises(VodlakeError, match="negative"):
        make_event("v1", "deleted", -1)


def test_store_source_is_content_addressed(make_cfg, tmp_path: Path) -> None:
    # a local origin: the unit tier talks to no service (tests/integration use the store)
    cfg = make_cfg(paths={"home": str(tmp_path / "home"), "origin": str(tmp_path / "origin")})
    a = tmp_path / "My Video.MP4"
    a.write_bytes(b"same bytes")
    b = tmp_path / "copy.mp4"
    b.write_bytes(b"same bytes")
    uri_a, sha, size = store_source(cfg, a)
    uri_b, _, _ = store_source(cfg, b)
    assert uri_a == uri_b and size == 10
    stored = Path(parse_uri(uri_a).path)
    assert stored.name == f"{sha}.mp4" and stored.read_bytes() == b"same bytes"
    assert stored.parent == Path(parse_uri(cfg.paths.uploads).path)
    with pytest.raises(VodlakeError, match="no such file"):
        store_source(cfg, tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    ("master", "attempts", "want"),
    [
        ("local[2]", 3, "local[2,3]"),
        ("local[*]", 4, "local[*,4]"),
        ("local", 2, "local[1,2]"),
        ("local[2,5]", 3, "local[2,5]"),
        ("local[2]", 1, "local[2]"),
        ("spark://127.0.0.1:7077", 3, "spark://127.0.0.1:7077"),
    ],
)
def test_local_master_gets_task_retries(master: str, attempts: int, want: str) -> None:
    assert with_local_retries(master, attempts) == want


def test_transcode_spec_from_config(make_cfg) -> None:
    cfg = make_cfg(transcode={"fail_first_attempt": ["*/1"], "max_attempts": 2})
    spec = transcode.TranscodeSpec.from_config(cfg, max_attempts=4)
    assert spec.max_attempts == 2  # the smaller of Spark's attempts and the configured ones
    assert spec.fail_first_attempt == ("*/1",)
    assert spec.origin_root.startswith("s3a://vodlake-origin/test/")  # this test's own prefix
    assert spec.video_root("v1") == spec.origin_root + "/videos/v1"
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert transcode.unit_name("v1", 3) == "v1/3"
    assert transcode.unit_name("v1", transcode.AUDIO_UNIT) == "v1/audio"


def test_executor_identity_in_a_standalone_executor_dir(tmp_path: Path, monkeypatch) -> None:
    executor_dir = tmp_path / "app-20261126103000-0001" / "1"
    executor_dir.mkdir(parents=True)
    monkeypatch.chdir(executor_dir)
    assert transcode.executor_identity() == "1"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPARK_EXECUTOR_ID", raising=False)
    assert transcode.executor_identity() == "driver"


def test_the_test_hook_fails_only_the_first_attempt(make_cfg) -> None:
    cfg = make_cfg(transcode={"fail_first_attempt": ["v1/1"]})
    spec = transcode.TranscodeSpec.from_config(cfg, max_attempts=3)
    unit = {"video_id": "v1", "seq": 1, "unit_idx": 1}
    with pytest.raises(transcode.InjectedFailure):
        transcode.encode_unit(spec, unit, attempt=0)
    # on the last attempt Spark would give, a failure becomes an error row instead
    last = transcode.TranscodeSpec.from_config(cfg, max_attempts=1)
    rows = list(transcode.encode_partition(last, [unit], attempt=0, executor_id="driver"))
    assert rows[0]["ok"] is False and "test hook" in rows[0]["reason"]
    assert rows[0]["unit_idx"] == 1 and rows[0]["attempt"] == 0


def test_split_work_deletes_deleted_and_redoes_uploaded_and_transcoding() -> None:
    state = [
        {"video_id": "a", "seq": 1, "status": "uploaded", "source_uri": "file:///a"},
        {"video_id": "b", "seq": 2, "status": "transcoding", "source_uri": "file:///b"},
        {"video_id": "c", "seq": 3, "status": "deleted", "source_uri": "file:///c"},
        {"video_id": "d", "seq": 4, "status": "ready", "source_uri": "file:///d"},
        {"video_id": "e", "seq": 5, "status": "failed", "source_uri": "file:///e"},
    ]
    deleted, todo = split_work(state)
    assert deleted == ["c"]
    assert [{k: t[k] for k in ("video_id", "seq", "source_uri")} for t in todo] == [
        {"video_id": "a", "seq": 1, "source_uri": "file:///a"},
        {"video_id": "b", "seq": 2, "source_uri": "file:///b"},
    ]


def test_final_rows_carry_outputs_for_ready_and_the_reason_for_failed() -> None:
    package = {"rendition_names": '["240p", "360p"]', "hls_uri": "h", "dash_uri": "d"}
    outcomes = {
        "a": Outcome("a", 3, "ready", facts={"duration_s": 9.0}, package=package),
        "b": Outcome("b", 4, "failed", "unit 2: ffmpeg exited 1", facts={"duration_s": 1.0}),
    }
    ready, failed = final_rows(outcomes)
    assert ready == {
        "video_id": "a",
        "seq": 3,
        "status": "ready",
        "reason": None,
        "duration_s": 9.0,
        "renditions": ["240p", "360p"],
        "hls_uri": "h",
        "dash_uri": "d",
    }
    assert failed["status"] == "failed" and failed["reason"] == "unit 2: ffmpeg exited 1"
    assert "hls_uri" not in failed and failed["seq"] == 4
