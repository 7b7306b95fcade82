"""Helpers for the edge tests: a stand-in HTTP origin, edge configs of their own, raw requests.

Every test runs its own edges: state under tmp_path, a loopback prefix 127.0.<random> of its
own and a free port, so it never touches edges anyone else runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from vodlake.delivery import edges

SEG = 256 * 1024


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def put_origin(cfg: Any, rel: str, data: bytes) -> str:
    """Put a file on the test config's own origin prefix of the object store."""
    from vodlake.lake import storage

    uri = storage.join(cfg.paths.origin, rel)
    storage.Storage.from_config(cfg).put_bytes(data, uri)
    return uri


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_objectstore_ports(n: int) -> list[int]:
    """n distinct ports the object store can take with their companions: SeaweedFS adds 10000
    for each gRPC listener and S3's gRPC sits at master + 1. Drawn below 22768 so that every
    companion stays under the kernel's ephemeral range (32768+), where a client socket of
    another test could hold it by the time SeaweedFS binds."""
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < n:
        port = random.randint(20000, 22700)
        group = {port, port + 1, port + 10000}
        if group & taken or not all(_bindable(p) for p in group):
            continue
        chosen.append(port)
        taken |= group
    return chosen


@contextlib.contextmanager
def own_objectstore(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An object store of this test's own (ports, state), to stop without disturbing others;
    yields the config overrides that point at it."""
    from vodlake.config import load_config
    from vodlake.services.objectstore import ObjectStoreService

    s3, master, volume, filer = free_objectstore_ports(4)
    overrides: dict[str, Any] = {
        "objectstore": {"endpoint": f"http://127.0.0.1:{s3}"},
        "services": {
            "state_dir": str(tmp_path / "services"),
            "objectstore": {
                "master_port": master,
                "volume_port": volume,
                "filer_port": filer,
                "stop_timeout_s": 2,
            },
        },
    }
    svc = ObjectStoreService(load_config("test", overrides=overrides))
    svc.up()
    try:
        yield overrides
    finally:
        svc.down()


def edge_overrides(tmp_path: Path, **edges_conf: object) -> dict:
    prefix = f"127.0.{random.randint(100, 250)}"
    topo_edges = [
        {"id": "t-a-1", "region": "r1", "isp": "ispa", "capacity_bytes": 50_000_000},
        {"id": "t-a-2", "region": "r1", "isp": "ispa", "capacity_bytes": 50_000_000},
        {"id": "t-b-1", "region": "r2", "isp": "ispb", "capacity_bytes": 3 * SEG},
    ]
    return {
        "edges": {
            "state_dir": str(tmp_path / "edges"),
            "address_prefix": prefix,
            "port": free_port(),
            **edges_conf,
        },
        "topology": {"edges": topo_edges},
    }


def get(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A request with the path sent exactly as given (no client-side normalization)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def log_lines(lay: edges.EdgeLayout, at_least: int, timeout: float = 10.0) -> list[dict]:
    """The edge's JSON access log lines, once at least `at_least` are written (buffered 1 s)."""
    deadline = time.monotonic() + timeout
    lines: list[dict] = []
    while time.monotonic() < deadline:
        if lay.access_log.exists():
            lines = [json.loads(x) for x in lay.access_log.read_text().splitlines() if x]
            if len(lines) >= at_least:
                return lines
        time.sleep(0.2)
    return lines


@dataclass(frozen=True)
class CatalogFile:
    path: str  # videos/<id>/...
    data: bytes
    object_id: str | None  # None: a playlist or init segment

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_catalog(
    spark: Any, cfg: Any, titles: dict[str, int], seg_bytes: int = SEG, rendition: str = "360p"
) -> dict[str, CatalogFile]:
    """Titles with `n` segments of one rendition: files on the origin and their rows in the
    `videos`, `renditions` and `segments` tables (what the transcode would have written)."""
    from vodlake import schemas
    from vodlake.lake.tables import Tables

    now = datetime.now(UTC)
    files: dict[str, CatalogFile] = {}
    videos, rends, segs = [], [], []

    def put(rel: str, data: bytes, oid: str | None) -> str:
        uri = put_origin(cfg, rel, data)
        files[rel] = CatalogFile(rel, data, oid)
        return uri

    for seq, (vid, n) in enumerate(sorted(titles.items())):
        hls = put(f"videos/{vid}/master.m3u8", b"#EXTM3U\n" + vid.encode(), None)
        dash = put(f"videos/{vid}/manifest.mpd", b"<MPD/>" + vid.encode(), None)
        playlist = put(
            f"videos/{vid}/{rendition}/playlist.m3u8", b"#EXTM3U\n#EXT-X-VERSION:7\n", None
        )
        init = put(f"videos/{vid}/{rendition}/init.m4s", os.urandom(800), None)
        row = dict.fromkeys(schemas.VIDEOS.fieldNames())
        row.update(
            video_id=vid, seq=seq, status="ready", hls_uri=hls, dash_uri=dash, updated_at=now
        )
        videos.append(row)
        rends.append(
            (vid, rendition, "video", "h264", None, 640, 360, 365, None, n, 4.0 * n, None,
             playlist, init, now)
        )  # fmt: skip
        for i in range(n):
            data = os.urandom(seg_bytes - (i % 7) * 1000)
            uri = put(
                f"videos/{vid}/{rendition}/seg-{i + 1:05d}.m4s", data, f"{vid}/{rendition}/{i}"
            )
            segs.append(
                (vid, rendition, i, 4.0 * i, 4.0, len(data), hashlib.sha256(data).hexdigest(),
                 uri, 0, "driver", 0)
            )  # fmt: skip
    tables = Tables(cfg)
    for name, rows, schema in (
        (
            "videos",
            [tuple(r[f] for f in schemas.VIDEOS.fieldNames()) for r in videos],
            schemas.VIDEOS,
        ),
        ("renditions", rends, schemas.RENDITIONS),
        ("segments", segs, schemas.SEGMENTS),
    ):
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(
            tables.ensure(spark, name)
        )
    return files


def write_manifest(
    cfg: Any,
    day: date,
    edge_id: str,
    add: list[str],
    keep: list[str] = (),  # type: ignore[assignment]
    drop: list[str] = (),  # type: ignore[assignment]
    budget: int = 10**12,
    capacity: int = 10**12,
) -> None:
    """A prefill manifest as the nightly placement writes it (placement.manifests format)."""
    from vodlake.lake import storage
    from vodlake.placement.manifests import manifest_dir

    def entries(ids: list[str]) -> list[dict[str, Any]]:
        return [
            {"object_id": o, "bytes": 0, "score": float(len(ids) - i), "reason": "test"}
            for i, o in enumerate(ids)
        ]

    doc = {
        "edge_id": edge_id,
        "date": day.isoformat(),
        "capacity_bytes": capacity,
        "fill_budget_bytes": budget,
        "add": entries(list(add)),
        "keep": entries(list(keep)),
        "drop": entries(list(drop)),
    }
    uri = f"{manifest_dir(cfg, day)}/{edge_id}.json"
    storage.Storage.from_config(cfg).put_bytes(json.dumps(doc).encode(), uri)
