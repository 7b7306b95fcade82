"""Origin storage: URI parsing, confinement of sources to the upload root, atomic and
idempotent writes on the local filesystem, and the s3a -> pyarrow s3 mapping."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from vodlake.lake.storage import (
    S3Options,
    Storage,
    StorageError,
    confine,
    join,
    normalize,
    parse_uri,
    relative_to,
)


@pytest.mark.parametrize(
    ("uri", "scheme", "path"),
    [
        ("/data/origin", "file", "/data/origin"),
        ("file:/data/origin", "file", "/data/origin"),
        ("file:///data//origin/", "file", "/data/origin"),
        ("file://localhost/data/origin", "file", "/data/origin"),
        ("s3a://bucket/videos/v1/", "s3a", "bucket/videos/v1"),
        ("S3A://bucket", "s3a", "bucket"),
    ],
)
def test_parse_uri(uri: str, scheme: str, path: str) -> None:
    loc = parse_uri(uri)
    assert (loc.scheme, loc.path) == (scheme, path)


def test_normalize_spells_one_way() -> None:
    assert normalize("/a/b") == normalize("file:/a/b") == "file:///a/b"
    assert normalize("s3a://b//k/") == "s3a://b/k"


@pytest.mark.parametrize(
    "uri",
    ["relative/path", "http://example.com/x.mp4", "s3://bucket/k", "file://otherhost/x",
     "s3a:///nobucket", "/a/b?x=1", "/a/b#frag", "/a/\nb", "", "hdfs://nn/x"],
)  # fmt: skip
def test_parse_uri_refuses(uri: str) -> None:
    with pytest.raises(StorageError):
        parse_uri(uri)


def test_join_builds_paths_from_our_own_parts() -> None:
    assert (
        join("/o", "videos", "v1", "360p/seg-00001.m4s") == "file:///o/videos/v1/360p/seg-00001.m4s"
    )
    assert join("s3a://b/o", "videos", "v1") == "s3a://b/o/videos/v1"
    for bad in ("..", "a/../b", "", ".hidden", "a b", "x%2e"):
        with pytest.raises(StorageError):
            join("/o", bad)


def test_relative_to() -> None:
    assert relative_to("file:///o/videos/v1/a.m4s", "/o/videos") == "v1/a.m4s"
    with pytest.raises(StorageError):
        relative_to("/other/a", "/o")


# --- confinement ----------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "uploads"
    r.mkdir()
    (r / "abc.mp4").write_bytes(b"x")
    return r


def test_confine_accepts_a_file_in_the_root(root: Path) -> None:
    assert confine(f"file://{root}/abc.mp4", str(root)) == f"file://{root}/abc.mp4"
    assert confine(f"{root}/abc.mp4", f"file://{root}") == f"file://{root}/abc.mp4"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda r: f"{r}/../secret.mp4", "'..'"),
        (lambda r: f"{r}/./abc.mp4", "'..'"),
        (lambda r: f"file://{r}/sub/..//abc.mp4", "'..'"),
        (lambda r: f"{r}/%2e%2e/secret.mp4", "escapes"),
        (lambda r: "http://127.0.0.1/abc.mp4", "scheme"),
        (lambda r: "s3a://bucket/uploads/abc.mp4", "scheme"),
        (lambda r: "/etc/passwd", "outside"),
        (lambda r: f"{r}-evil/abc.mp4", "outside"),
        (lambda r: f"{r}", "outside"),
        (lambda r: f"{r}/", "outside"),
        (lambda r: "relative/abc.mp4", "relative"),
    ],
)
def test_confine_refuses(root: Path, make, why: str) -> None:
    with pytest.raises(StorageError, match=why):
        confine(make(root), str(root))


def test_confine_refuses_a_symlink_out_of_the_root(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    (root / "link.mp4").symlink_to(secret)
    with pytest.raises(StorageError, match="links outside"):
        confine(f"{root}/link.mp4", str(root))


def test_confine_on_s3a_compares_bucket_and_prefix() -> None:
    assert confine("s3a://b/up/x.mp4", "s3a://b/up") == "s3a://b/up/x.mp4"
    for bad in ("s3a://other/up/x.mp4", "s3a://b/upx/x.mp4", "s3a://b/up/../x.mp4"):
        with pytest.raises(StorageError):
            confine(bad, "s3a://b/up")


# --- local reads and writes ------------------------------------------------------------------
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def test_put_file_is_atomic_and_idempotent(tmp_path: Path) -> None:
    st = Storage()
    src = tmp_path / "a.bin"
    src.write_bytes(b"first")
    uri = join(str(tmp_path / "origin"), "videos", "v1", "a.bin")
    assert st.put_file(src, uri) == 5
    assert st.put_file(src, uri) == 5  # same path again: same result
    assert st.read_bytes(uri) == b"first"
    src.write_bytes(b"second version")
    st.put_file(src, uri)
    assert st.read_bytes(uri) == b"second version"
    assert st.size(uri) == 14
    assert _leftovers(tmp_path / "origin") == []


def test_a_failed_write_leaves_nothing_visible(tmp_path: Path, monkeypatch) -> None:
    st = Storage()
    uri = join(str(tmp_path / "origin"), "seg.m4s")
    with pytest.raises(FileNotFoundError):
        st.put_file(tmp_path / "missing.bin", uri)  # no source: fails before any write
    assert not st.exists(uri)

    def half_then_fail(src, dst, *args) -> None:  # the disk fills up half way
        dst.write(src.read(10))
        raise OSError(28, "No space left on device")

    source = tmp_path / "seg.bin"
    source.write_bytes(b"x" * 100)
    monkeypatch.setattr("vodlake.lake.storage.shutil.copyfileobj", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        st.put_file(source, uri)
    assert not st.exists(uri)
    assert list((tmp_path / "origin").iterdir()) == []  # the temporary file is gone too


def test_put_tree_writes_manifests_last_and_prunes(tmp_path: Path) -> None:
    st = Storage()
    local = tmp_path / "pkg"
    (local / "360p").mkdir(parents=True)
    for rel in ("master.m3u8", "manifest.mpd", "360p/playlist.m3u8", "360p/init.m4s",
                "360p/seg-00001.m4s"):  # fmt: skip
        (local / rel).write_text(rel)
    dest = join(str(tmp_path / "origin"), "videos", "v1")
    st.put_file(local / "360p/init.m4s", join(dest, "360p", "seg-00099.m4s"))  # stale
    order = st.put_tree(local, dest)
    assert order[:2] == ["360p/init.m4s", "360p/seg-00001.m4s"]
    assert set(order[2:]) == {"master.m3u8", "manifest.mpd", "360p/playlist.m3u8"}
    assert st.list_files(dest) == sorted(order)  # the stale segment is gone
    assert st.read_bytes(join(dest, "360p", "playlist.m3u8")) == b"360p/playlist.m3u8"


def test_local_copy_and_get_file(tmp_path: Path) -> None:
    st = Storage()
    f = tmp_path / "x.mp4"
    f.write_bytes(b"video")
    with st.local_copy(f"file://{f}", tmp_path) as local:
        assert local == f  # a local file is read in place, never copied
    got = st.get_file(f"file://{f}", tmp_path / "copy" / "y.mp4")
    assert got.read_bytes() == b"video"
    with pytest.raises(StorageError, match="not found"), st.local_copy(f"{f}.nope", tmp_path):
        pass


def test_delete_is_idempotent(tmp_path: Path) -> None:
    st = Storage()
    d = tmp_path / "v"
    (d / "a").mkdir(parents=True)
    (d / "a" / "f").write_text("1")
    st.delete(str(d))
    st.delete(str(d))
    assert not d.exists()


# --- s3a --------------------------------------------------------------------------------------
def test_s3_options_follow_the_hadoop_s3a_settings() -> None:
    opts = S3Options.from_hadoop(
        {
            "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000/",
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        }
    )
    assert opts == S3Options("127.0.0.1:9000", "eu-west-1", "http", True)
    assert opts.pyarrow_kwargs() == {
        "scheme": "http",
        "endpoint_override": "127.0.0.1:9000",
        "region": "eu-west-1",
        "connect_timeout": 5,
        "request_timeout": 60,
        "background_writes": False,
    }
    plain = S3Options.from_hadoop({"fs.s3a.connection.ssl.enabled": "false"})
    assert plain.scheme == "http" and plain.endpoint is None
    assert S3Options().pyarrow_kwargs()["force_virtual_addressing"] is True


def test_s3a_maps_to_pyarrow_s3_and_storage_pickles(tmp_path: Path) -> None:
    st = Storage(S3Options(endpoint="127.0.0.1:9", scheme="http", path_style=True))
    fs, path = st.filesystem("s3a://bucket/videos/v1/seg.m4s")
    assert (fs.type_name, path) == ("s3", "bucket/videos/v1/seg.m4s")
    local_fs, local_path = st.filesystem(str(tmp_path))
    assert (local_fs.type_name, local_path) == ("local", str(tmp_path))
    copy = pickle.loads(pickle.dumps(st))  # executors get a copy without live handles
    assert copy.s3 == st.s3
    assert copy.filesystem("s3a://bucket/k")[1] == "bucket/k"


def test_storage_from_config_reads_spark_extra(make_cfg) -> None:
    cfg = make_cfg(spark={"extra": {"spark.hadoop.fs.s3a.endpoint": "https://s3.example:443"}})
    st = Storage.from_config(cfg)
    assert st.s3.endpoint == "s3.example:443" and st.s3.scheme == "https"
    assert parse_uri(cfg.paths.uploads) == parse_uri(cfg.paths.origin + "/uploads")


def test_public_url_only_for_files_under_the_origin_videos_prefix(make_cfg) -> None:
    from vodlake.lake.storage import origin_base_url, public_url

    cfg = make_cfg(paths={"home": "/tmp/h", "origin": "s3a://vodlake-origin/test/u1"})
    seg = f"{cfg.paths.origin}/videos/v1/360p/seg_00001.m4s"
    url = public_url(cfg, seg)
    assert url == f"http://127.0.0.1:8333/{seg.removeprefix('s3a://')}"
    assert url == f"{origin_base_url(cfg)}/videos/v1/360p/seg_00001.m4s"
    for private in (f"{cfg.paths.uploads}/a.mp4", f"{cfg.paths.origin}/manifests/x.json"):
        with pytest.raises(StorageError, match="not under"):
            public_url(cfg, private)
    local = make_cfg(paths={"home": "/tmp/h", "origin": "/tmp/h/origin"})
    with pytest.raises(StorageError, match="no HTTP URL"):
        public_url(local, "/tmp/h/origin/videos/v1/master.m3u8")


class _FailingStorage(Storage):
    """Fails every write of a file named `fail_on` (a store that goes away mid-publish)."""

    fail_on = ""

    def put_file(self, local_path, uri):  # type: ignore[no-untyped-def]
        if uri.endswith(self.fail_on):
            raise OSError("store went away")
        return super().put_file(local_path, uri)


def test_put_tree_commit_files_last_and_a_changed_video_is_unpublished_first(
    tmp_path: Path,
) -> None:
    local = tmp_path / "pkg"
    (local / "360p").mkdir(parents=True)
    for rel in ("master.m3u8", "manifest.mpd", "360p/playlist.m3u8", "360p/seg-00001.m4s"):
        (local / rel).write_text(rel)
    dest = join(str(tmp_path / "origin"), "videos", "v1")
    commit = ("master.m3u8", "manifest.mpd")
    order = Storage().put_tree(local, dest, commit=commit)
    assert order == ["360p/seg-00001.m4s", "360p/playlist.m3u8", "master.m3u8", "manifest.mpd"]

    failing = _FailingStorage()
    failing.fail_on = "seg-00001.m4s"
    with pytest.raises(OSError):  # the identical re-run: the old (same) entry points stay
        failing.put_tree(local, dest, commit=commit)
    assert failing.exists(join(dest, "master.m3u8"))

    (local / "360p" / "seg-00001.m4s").write_text("a new, longer version")
    with pytest.raises(OSError):  # a different version: unpublished before any segment
        failing.put_tree(local, dest, commit=commit)
    assert not failing.exists(join(dest, "master.m3u8"))
    assert not failing.exists(join(dest, "manifest.mpd"))
    Storage().put_tree(local, dest, commit=commit)
    assert Storage().read_bytes(join(dest, "master.m3u8")) == b"master.m3u8"
