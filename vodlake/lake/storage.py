"""Origin storage: the files players fetch, addressed by Hadoop-FileSystem-style URIs.

The same URIs work on the driver (Delta, Hadoop) and on executors, where plain Python reads and
reads them through pyarrow.fs (small S3 objects are written with one boto3 PutObject, see
SINGLE_PUT_MAX): `file:///...` (or a bare absolute path) is the local disk,
`s3a://bucket/key` is S3 (pyarrow calls the scheme `s3`; the endpoint, region and path style
come from the same `spark.hadoop.fs.s3a.*` settings Spark uses, credentials from the usual AWS
environment variables). Nothing here knows about Spark.

Why writes go through a temporary name: Spark may run a task twice (a retry after a failure, or
a speculative copy), and a player must never see half a segment. Local files are written under
a unique hidden name and renamed into place (rename is atomic on one filesystem); an S3 object
only becomes visible when its upload completes, so it is written to its final key directly.
Paths are derived from ids only, so writing a video again gives the same paths (idempotent).

Why `confine`: an upload event names its source by URI, and events are input from outside. A
source must be a plain file under the upload root: no other scheme, no `..`, no percent-escapes
that could hide one, and (locally) no symlink that leads out of the root.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vodlake.errors import VodlakeError

SCHEMES = ("file", "s3a")
# A path part we create ourselves (video ids, rendition names, file names).
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
# Manifests go last when publishing a folder, so they never name a file not yet visible.
MANIFEST_SUFFIXES = (".m3u8", ".mpd")
# Objects up to this size (every segment and playlist) go up in one PutObject request.
SINGLE_PUT_MAX = 16 << 20


class StorageError(VodlakeError):
    """A URI vodlake refuses to use, or a storage operation that failed."""


class ObjectStoreError(VodlakeError, OSError):
    """The object store did not answer or refused a call (not a missing file).

    Not a StorageError: that is a property of the input and never retried, while a store that
    is down may be back for the next attempt, so the task is retried (catalog.transcode)."""


def _store_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a pyarrow S3 failure (an OSError, other than not-found) into an ObjectStoreError
    that names the store, so a failed video's reason says where the problem is."""

    @functools.wraps(method)
    def wrapper(self: Storage, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (FileNotFoundError, ObjectStoreError):
            raise
        except OSError as exc:
            uri = next((a for a in args if isinstance(a, str) and a.startswith("s3a:")), None)
            if uri is None:
                raise
            where = self.s3.endpoint or "S3"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
            raise ObjectStoreError(
                f"the object store at {where} failed ({method.__name__} {uri}): {first}",
                hint="is it running? `vodlake services status`",
            ) from exc

    return wrapper


@dataclass(frozen=True)
class Location:
    """A parsed storage URI: `path` is an absolute local path (file) or `bucket/key` (s3a)."""

    scheme: str
    path: str

    @property
    def uri(self) -> str:
        if self.scheme == "file":
            return "file://" + self.path
        return f"{self.scheme}://{self.path}"

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def parse_uri(uri: str) -> Location:
    """`/a/b`, `file:/a/b`, `file:///a/b`, `file://localhost/a/b` -> file; `s3a://b/k` -> s3a.

    Any other scheme, a relative local path, or a URI with a query or fragment is refused:
    executors and the driver must agree on what a URI names.
    """
    if not isinstance(uri, str) or not uri:
        raise StorageError(f"not a storage URI: {uri!r}")
    if any(ord(c) < 32 for c in uri):
        raise StorageError("storage URI contains control characters")
    if "?" in uri or "#" in uri:
        raise StorageError(f"storage URI must not have a query or fragment: {uri}")
    scheme, sep, rest = uri.partition(":")
    if not sep or "/" in scheme or scheme == "":
        if not uri.startswith("/"):
            raise StorageError(
                f"relative path {uri!r} is not a storage URI", hint="use an absolute path"
            )
        return Location("file", _clean_local(uri))
    scheme = scheme.lower()
    if scheme == "file":
        if rest.startswith("//"):
            host, _, path = rest[2:].partition("/")
            if host not in ("", "localhost"):
                raise StorageError(f"file URI with a host is not supported: {uri}")
            rest = "/" + path
        if not rest.startswith("/"):
            raise StorageError(f"file URI must hold an absolute path: {uri}")
        return Location("file", _clean_local(rest))
    if scheme == "s3a":
        if not rest.startswith("//"):
            raise StorageError(f"s3a URI must look like s3a://bucket/key: {uri}")
        bucket, _, key = rest[2:].partition("/")
        if not bucket:
            raise StorageError(f"s3a URI has no bucket: {uri}")
        key = re.sub("/+", "/", key).strip("/")
        return Location("s3a", f"{bucket}/{key}" if key else bucket)
    raise StorageError(
        f"unsupported storage scheme '{scheme}' in {uri}",
        hint=f"use one of: {', '.join(s + '://' for s in SCHEMES)}",
    )


def _clean_local(path: str) -> str:
    """Collapse repeated slashes and a trailing slash (but keep `..` for confine to refuse)."""
    cleaned = re.sub("/+", "/", path)
    return cleaned.rstrip("/") or "/"


def normalize(uri: str) -> str:
    """The canonical spelling of a URI (`file:///abs/path`, `s3a://bucket/key`)."""
    return parse_uri(uri).uri


def join(root: str, *parts: str) -> str:
    """`root` plus path parts we generate ourselves; a part may not climb or hide a separator."""
    loc = parse_uri(root)
    names: list[str] = []
    for part in parts:
        for name in str(part).split("/"):
            if name in ("", ".", "..") or not _PART.match(name):
                raise StorageError(f"bad path part {part!r} under {loc.uri}")
            names.append(name)
    path = "/".join([loc.path.rstrip("/"), *names]) if names else loc.path
    return Location(loc.scheme, path).uri


def relative_to(uri: str, root: str) -> str:
    """The part of `uri` below `root` (`a/b.m4s`); StorageError when it is not below it."""
    loc, base = parse_uri(uri), parse_uri(root)
    prefix = base.path.rstrip("/") + "/"
    if loc.scheme != base.scheme or not loc.path.startswith(prefix):
        raise StorageError(f"{loc.uri} is not under {base.uri}")
    return loc.path[len(prefix) :]


def confine(uri: str, root: str) -> str:
    """Return the canonical URI of a source that lies inside `root`, else raise StorageError.

    The message is the reason recorded when a video fails because of its source path.
    """
    base = parse_uri(root)
    raw = str(uri)
    if "%" in raw or "\\" in raw:
        raise StorageError(f"source path {raw!r} has escapes; sources must be plain paths")
    try:
        loc = parse_uri(raw)
    except StorageError as exc:
        raise StorageError(f"source {exc.message}", hint=exc.hint) from None
    segments = re.split("/+", raw.partition("://")[2] if "://" in raw else raw)
    if any(s in (".", "..") for s in segments):
        raise StorageError(f"source path {raw!r} contains '.' or '..'; it must be a plain path")
    if loc.scheme != base.scheme:
        raise StorageError(
            f"source scheme '{loc.scheme}' is not allowed: sources must be under {base.uri}"
        )
    prefix = base.path.rstrip("/") + "/"
    if not loc.path.startswith(prefix) or len(loc.path) == len(prefix):
        raise StorageError(f"source {loc.uri} is outside the upload root {base.uri}")
    if loc.scheme == "file":
        real_root = os.path.realpath(base.path)
        real = os.path.realpath(loc.path)
        if not real.startswith(real_root.rstrip("/") + "/"):
            raise StorageError(f"source {loc.uri} links outside the upload root {base.uri}")
    return loc.uri


def hadoop_s3a_conf(cfg: Any) -> dict[str, str]:
    """`spark.hadoop.fs.s3a.*` for objectstore (Hadoop's third-party-store settings), with
    anything set in spark.extra winning. Keys only from AWS_* (EnvironmentVariable provider)."""
    store = cfg.objectstore
    prefix = "spark.hadoop.fs.s3a."
    conf = {
        "aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        # a stopped store must fail a task in seconds (Spark retries it), not hang for minutes
        "attempts.maximum": "3",
        "retry.limit": "3",
        "retry.interval": "500ms",
        "connection.establish.timeout": "5000",
        "connection.timeout": "30000",
    }
    if store.endpoint:
        conf |= {
            "endpoint": store.endpoint,
            "path.style.access": "true",
            "connection.ssl.enabled": str(store.endpoint.startswith("https:")).lower(),
        }
    if store.region:
        conf["endpoint.region"] = store.region
    out = {prefix + k: v for k, v in conf.items()}
    out.update({k: v for k, v in cfg.spark.extra.items() if k.startswith(prefix)})
    return out


def public_url(cfg: Any, uri: str) -> str:
    """The anonymous plain-HTTP (path-style) URL of an object under `<paths.origin>/videos/`.

    Edges fill from it; anything else on the store needs credentials, so it is refused here.
    """
    loc = parse_uri(uri)
    videos = join(cfg.paths.origin, "videos")
    relative_to(loc.uri, videos)  # StorageError when not below <origin>/videos
    if loc.scheme != "s3a":
        raise StorageError(
            f"{loc.uri} is not on the object store, so it has no HTTP URL",
            hint="set paths.origin to s3a://<bucket>",
        )
    return f"{cfg.objectstore.endpoint.rstrip('/')}/{urllib.parse.quote(loc.path)}"


def origin_base_url(cfg: Any) -> str:
    """`<endpoint>/<bucket>[/<prefix>]`: `<this>/videos/<id>/...` is public_url of a file."""
    loc = parse_uri(cfg.paths.origin)
    if loc.scheme != "s3a":
        raise StorageError(f"the origin {loc.uri} is not on the object store")
    return f"{cfg.objectstore.endpoint.rstrip('/')}/{urllib.parse.quote(loc.path)}"


@dataclass(frozen=True)
class S3Options:
    """How pyarrow reaches S3; read from the Hadoop s3a settings so both sides agree."""

    endpoint: str | None = None
    region: str | None = None
    scheme: str = "https"
    path_style: bool = False

    @classmethod
    def from_hadoop(cls, conf: dict[str, str]) -> S3Options:
        """From `spark.hadoop.fs.s3a.*` (or bare `fs.s3a.*`) keys."""

        def get(key: str) -> str | None:
            return conf.get(f"spark.hadoop.fs.s3a.{key}") or conf.get(f"fs.s3a.{key}")

        endpoint = get("endpoint")
        scheme = "https"
        ssl = get("connection.ssl.enabled")
        if ssl is not None and ssl.strip().lower() == "false":
            scheme = "http"
        if endpoint and "://" in endpoint:
            scheme, _, endpoint = endpoint.partition("://")
        return cls(
            endpoint=endpoint.rstrip("/") if endpoint else None,
            region=get("endpoint.region"),
            scheme=scheme,
            path_style=(get("path.style.access") or "").strip().lower() == "true",
        )

    def boto3_client(self) -> Any:
        """A boto3 S3 client for single-request PUTs (pyarrow 20 turns every write into a
        three-request multipart upload; its one-PUT path needs pyarrow 21, i.e. numpy 2)."""
        import boto3
        from botocore.config import Config as BotoConfig

        style = "path" if self.path_style or self.endpoint else "virtual"
        return boto3.session.Session().client(
            "s3",
            endpoint_url=f"{self.scheme}://{self.endpoint}" if self.endpoint else None,
            region_name=self.region,
            config=BotoConfig(
                s3={"addressing_style": style},
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )

    def pyarrow_kwargs(self) -> dict[str, Any]:
        # a stopped store fails a call in seconds (the task is retried), never hangs it
        kwargs: dict[str, Any] = {"scheme": self.scheme, "connect_timeout": 5}
        kwargs["request_timeout"] = 60
        # segment-sized objects go up in one PUT at close: a background writer thread only
        # adds a hand-off per object (bench/origin.py)
        kwargs["background_writes"] = False
        if self.endpoint:
            kwargs["endpoint_override"] = self.endpoint
        if self.region:
            kwargs["region"] = self.region
        if not self.path_style and not self.endpoint:
            kwargs["force_virtual_addressing"] = True
        return kwargs


@dataclass
class Storage:
    """Read and write origin files by URI. Picklable: executors get a copy with the closure."""

    s3: S3Options = field(default_factory=S3Options)
    _filesystems: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _put_client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_config(cls, cfg: Any) -> Storage:
        """The driver's Storage: s3a settings as Spark gets them, the embedded store's keys
        in the environment (vodlake.services.objectstore.export_credentials)."""
        from vodlake.services.objectstore import export_credentials

        export_credentials(cfg)
        return cls(s3=S3Options.from_hadoop(hadoop_s3a_conf(cfg)))

    def __getstate__(self) -> dict[str, Any]:
        return {"s3": self.s3}  # filesystem handles are per process

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.s3 = state["s3"]
        self._filesystems = {}
        self._put_client = None

    # --- plumbing ---------------------------------------------------------------------------
    def filesystem(self, uri: str) -> tuple[Any, str]:
        """(pyarrow filesystem, path inside it) for `uri`; s3a maps to pyarrow's s3."""
        import pyarrow.fs as pafs

        loc = parse_uri(uri)
        fs = self._filesystems.get(loc.scheme)
        if fs is None:
            if loc.scheme == "file":
                fs = pafs.LocalFileSystem()
            else:
                fs = pafs.S3FileSystem(**self.s3.pyarrow_kwargs())
            self._filesystems[loc.scheme] = fs
        return fs, loc.path

    # --- queries ----------------------------------------------------------------------------
    @_store_errors
    def exists(self, uri: str) -> bool:
        import pyarrow.fs as pafs

        fs, path = self.filesystem(uri)
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    @_store_errors
    def size(self, uri: str) -> int | None:
        """Bytes of a file, None when it does not exist."""
        import pyarrow.fs as pafs

        fs, path = self.filesystem(uri)
        info = fs.get_file_info(path)
        return info.size if info.type == pafs.FileType.File else None

    def list_files(self, uri: str) -> list[str]:
        """Every file below `uri`, as paths relative to it (sorted); [] when it does not exist."""
        return sorted(self.file_sizes(uri))

    @_store_errors
    def file_sizes(self, uri: str) -> dict[str, int]:
        """{relative path: bytes} of every file below `uri` ({} when it does not exist)."""
        import pyarrow.fs as pafs

        fs, path = self.filesystem(uri)
        if fs.get_file_info(path).type != pafs.FileType.Directory:
            return {}
        prefix = path.rstrip("/") + "/"
        # the folder may vanish between the two calls (a delete; SeaweedFS drops the empty
        # folder entry after its last object), which is the same as no files
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        return {i.path[len(prefix) :]: i.size for i in infos if i.type == pafs.FileType.File}

    @_store_errors
    def read_bytes(self, uri: str) -> bytes:
        fs, path = self.filesystem(uri)
        # a random-access file reads a small object in one ranged GET of its known size,
        # faster than the streaming reader's chunked reads (bench/origin.py)
        with fs.open_input_file(path) as fh:
            return fh.read()

    # --- writes -----------------------------------------------------------------------------
    def _commit(self, fs: Any, path: str, write: Any) -> None:
        """Write through `write(stream)` so the file appears complete or not at all."""
        if fs.type_name == "local":
            parent = os.path.dirname(path)
            fs.create_dir(parent, recursive=True)
            tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
            try:
                with fs.open_output_stream(tmp) as out:
                    write(out)
                fs.move(tmp, path)  # rename(2): atomic, replaces an older copy
            except BaseException:
                with contextlib.suppress(FileNotFoundError, OSError):
                    os.unlink(tmp)
                raise
        else:  # object stores publish an object only when its upload completes
            with fs.open_output_stream(path) as out:
                write(out)

    def _put_object(self, path: str, body: bytes) -> None:
        """One PutObject request for a whole small object (visible only once complete)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._put_client is None:
            self._put_client = self.s3.boto3_client()
        bucket, _, key = path.partition("/")
        try:
            self._put_client.put_object(Bucket=bucket, Key=key, Body=body)
        except (BotoCoreError, ClientError) as exc:
            raise OSError(f"PutObject: {exc}") from exc  # named by _store_errors

    @_store_errors
    def put_file(self, local_path: str | os.PathLike[str], uri: str) -> int:
        """Copy a local file to `uri` atomically; returns its size."""
        fs, path = self.filesystem(uri)
        src = Path(local_path)
        size = src.stat().st_size
        if fs.type_name != "local" and size <= SINGLE_PUT_MAX:
            self._put_object(path, src.read_bytes())
            return size

        def write(out: Any) -> None:
            with src.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)

        self._commit(fs, path, write)
        return size

    @_store_errors
    def put_bytes(self, data: bytes, uri: str) -> int:
        fs, path = self.filesystem(uri)
        if fs.type_name != "local" and len(data) <= SINGLE_PUT_MAX:
            self._put_object(path, data)
        else:
            self._commit(fs, path, lambda out: out.write(data))
        return len(data)

    @_store_errors
    def get_file(self, uri: str, local_path: str | os.PathLike[str]) -> Path:
        """Download `uri` to a local file (atomically, so a reader never sees part of it)."""
        fs, path = self.filesystem(uri)
        dst = Path(local_path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with fs.open_input_stream(path) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return dst

    @contextlib.contextmanager
    def local_copy(self, uri: str, scratch: str | os.PathLike[str]) -> Iterator[Path]:
        """A local path to read `uri` from: the file itself when local, else a download that is
        removed afterwards. ffmpeg only ever reads local files (`-protocol_whitelist file`)."""
        loc = parse_uri(uri)
        if loc.scheme == "file":
            if not os.path.isfile(loc.path):
                raise StorageError(f"file not found: {loc.uri}")
            yield Path(loc.path)
            return
        folder = Path(tempfile.mkdtemp(prefix="vodlake-get-", dir=scratch))
        try:
            yield self.get_file(uri, folder / loc.name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def put_tree(
        self,
        local_dir: str | os.PathLike[str],
        uri: str,
        last: Sequence[str] = MANIFEST_SUFFIXES,
        prune: bool = True,
        commit: Sequence[str] = (),
    ) -> list[str]:
        """Publish every file of `local_dir` under `uri`, each atomically: other files first,
        then those ending in `last` (so a manifest never names a segment not yet visible), then
        the `commit` files (relative paths, e.g. the HLS master and the DASH MPD).

        Why no rename: an object store has none, and each object appears whole anyway. The
        commit files are the entry points players and edges start from, so a video whose
        publishing stops half way has no entry point (first publish) or none at all (see next).
        When an earlier, different version is there (other files, sizes or commit bytes), its
        commit files are deleted first, so an old master never names a half-replaced segment;
        an identical re-run overwrites the same keys with the same bytes and unpublishes
        nothing. With `prune`, files under `uri` that `local_dir` does not have (a previous,
        longer version) are deleted at the end. Returns the relative paths published.
        """
        root = Path(local_dir)
        files = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.is_symlink()
        )
        entry = [f for f in commit if f in files]
        rest = [f for f in files if f not in commit]
        ordered = [f for f in rest if not f.endswith(tuple(last))]
        ordered += [f for f in rest if f.endswith(tuple(last))] + entry
        remote = self.file_sizes(uri) if entry or prune else {}
        if any(f in remote for f in entry):
            local_sizes = {f: (root / f).stat().st_size for f in files}
            same = remote == local_sizes and all(
                self.read_bytes(join(uri, f)) == (root / f).read_bytes() for f in entry
            )
            if not same:
                for f in entry:
                    self.delete(join(uri, f))
        for rel in ordered:
            self.put_file(root / rel, join(uri, rel))
        if prune:
            keep = set(files)
            for rel in sorted(remote):
                if rel not in keep:
                    self.delete(join(uri, rel))
        return ordered

    @_store_errors
    def delete(self, uri: str) -> None:
        """Delete a file or a whole folder; nothing to delete is fine (idempotent)."""
        import pyarrow.fs as pafs

        fs, path = self.filesystem(uri)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            fs.delete_dir(path)
        elif info.type == pafs.FileType.File:
            fs.delete_file(path)


__all__ = [
    "Location",
    "ObjectStoreError",
    "S3Options",
    "Storage",
    "StorageError",
    "confine",
    "hadoop_s3a_conf",
    "join",
    "normalize",
    "origin_base_url",
    "parse_uri",
    "public_url",
    "relative_to",
]
