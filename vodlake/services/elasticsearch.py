"""A single Elasticsearch node on 127.0.0.1 from the Maven Central integ-test zip (no Docker).

Elasticsearch refuses to run as root, so when vodlake runs as root the node runs as a dedicated
system user (services.elasticsearch.user), created on first start. Everything the node writes
(config copy, data, logs, tmp) lives under <state_dir>/elasticsearch, owned by that user.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from vodlake import versions
from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.services.common import (
    ServiceStatus,
    find_java,
    log_tail,
    maven_copy_artifact,
    port_open,
    read_pid,
    start_process,
    stop_process,
    wait_until,
)

NAME = "elasticsearch"
MARKER = "elasticsearch"


def http_json(url: str, timeout: float = 3.0) -> tuple[int, dict, dict]:
    """GET url -> (status, headers, json body); (0, {}, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), {}
    except (OSError, ValueError):
        return 0, {}, {}


class ElasticsearchService:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.svc = cfg.services.elasticsearch
        self.port = cfg.elasticsearch.port
        self.transport_port = self.port + 100
        self.state = Path(cfg.services.state_dir) / "elasticsearch"
        self.dist = Path(cfg.services.cache_dir) / f"elasticsearch-{versions.ELASTICSEARCH_VERSION}"
        self.pidfile = self.state / "launcher.pid"
        self.log = self.state / "console.log"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- install ---------------------------------------------------------------------------
    def fetch(self) -> bool:
        """Download and unpack the integ-test zip once; True when it downloaded."""
        if (self.dist / "bin" / "elasticsearch").exists():
            return False
        cache = self.dist.parent
        zip_path = maven_copy_artifact(
            versions.ELASTICSEARCH_ARTIFACT, cache / "downloads", cache / "mvn"
        )
        tmp = self.dist.with_name(self.dist.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                target = tmp / Path(*Path(info.filename).parts[1:])  # drop the top folder
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(target, (mode or 0o644) | 0o444)
        for d in [tmp, *tmp.rglob("*")]:
            if d.is_dir():
                d.chmod(0o755)
        shutil.rmtree(self.dist, ignore_errors=True)
        tmp.rename(self.dist)
        zip_path.unlink(missing_ok=True)
        return True

    def install_root_plugin(self) -> bool:
        """Build and install the small plugin that serves `GET /` (see es_plugin/*.java).

        The integ-test zip lacks the rest-root module, and es-hadoop's writer needs `GET /`.
        Rebuilt when its source changes; True when it (re)built.
        """
        source = Path(__file__).parent / "es_plugin" / "RootInfoPlugin.java"
        target = self.dist / "plugins" / "vodlake-root-info"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        stamp = target / "source.sha256"
        if stamp.exists() and stamp.read_text() == digest:
            return False
        javac = shutil.which("javac") or str(find_java(self.svc.java_home).parent / "javac")
        if not Path(javac).exists():
            raise VodlakeError(
                "javac not found; it builds vodlake's GET / plugin for Elasticsearch",
                hint="install a JDK: apt-get install openjdk-17-jdk-headless",
            )
        build = self.dist.parent / "es-plugin-build"
        shutil.rmtree(build, ignore_errors=True)
        (build / "classes").mkdir(parents=True)
        for cmd in (
            [
                javac,
                "--release",
                "17",
                "-nowarn",
                "-cp",
                f"{self.dist / 'lib'}/*",
                "-d",
                str(build / "classes"),
                str(source),
            ],
            [
                str(Path(javac).with_name("jar")),
                "cf",
                str(build / "vodlake-root-info.jar"),
                "-C",
                str(build / "classes"),
                ".",
            ],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise VodlakeError(
                    "building the Elasticsearch GET / plugin failed: " + proc.stderr.strip()[-300:],
                    hint=f"check the JDK and {self.dist / 'lib'}",
                )
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(build / "vodlake-root-info.jar", target / "vodlake-root-info.jar")
        (target / "plugin-descriptor.properties").write_text(
            "description=serves GET / (cluster info) for elasticsearch-hadoop\n"
            "version=0.1.0\nname=vodlake-root-info\nclassname=vodlake.es.RootInfoPlugin\n"
            f"java.version=17\nelasticsearch.version={versions.ELASTICSEARCH_VERSION}\n"
        )
        for path in [target, *target.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        stamp.write_text(digest)
        shutil.rmtree(build, ignore_errors=True)
        return True

    def _run_user(self) -> str | None:
        """The user to run as: None when we are not root (run as ourselves)."""
        if os.geteuid() != 0:
            return None
        user = self.svc.user
        try:
            pwd.getpwnam(user)
        except KeyError:
            proc = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise VodlakeError(
                    f"could not create the user '{user}' that runs Elasticsearch: "
                    + proc.stderr.strip(),
                    hint="create it (useradd --system vodlake-es) or run vodlake as non-root",
                ) from None
        return user

    def _prepare(self, user: str | None) -> Path:
        conf = self.state / "config"
        for sub in ("data", "logs", "tmp"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        if not conf.exists():
            shutil.copytree(self.dist / "config", conf)
        (conf / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "cluster.name: vodlake",
                    "node.name: vodlake-1",
                    f"path.data: {self.state / 'data'}",
                    f"path.logs: {self.state / 'logs'}",
                    "network.host: 127.0.0.1",
                    f"http.port: {self.port}",
                    f"transport.port: {self.transport_port}",
                    "discovery.type: single-node",
                    "xpack.security.enabled: false",
                    "cluster.routing.allocation.disk.threshold_enabled: false",
                    "action.destructive_requires_name: false",
                    "",
                ]
            )
        )
        # every parent must be traversable by the service user
        for parent in [self.state, *self.state.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o711)
        if user is not None:
            info = pwd.getpwnam(user)
            for path in [self.state, *self.state.rglob("*")]:
                os.chown(path, info.pw_uid, info.pw_gid)
        return conf

    # --- lifecycle -------------------------------------------------------------------------
    def healthy(self) -> bool:
        status, headers, body = http_json(
            f"{self.address}/_cluster/health?wait_for_status=yellow&timeout=1s"
        )
        if status != 200 or body.get("status") not in ("green", "yellow"):
            return False
        # es-hadoop discovers the cluster with GET / and insists on the product header.
        status, headers, _ = http_json(self.address + "/")
        return status == 200 and headers.get("X-elastic-product") == "Elasticsearch"

    def up(self) -> bool:
        if self.healthy():
            return False
        if read_pid(self.pidfile) is None and port_open("127.0.0.1", self.port):
            raise VodlakeError(
                f"port {self.port} is taken by a process vodlake did not start",
                hint="stop it, or set elasticsearch.port",
            )
        if read_pid(self.pidfile) is None:
            java = find_java(self.svc.java_home, min_major=17)
            self.fetch()
            self.install_root_plugin()
            user = self._run_user()
            conf = self._prepare(user)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "ES_JAVA_HOME": str(java.parent.parent),
                "ES_PATH_CONF": str(conf),
                "ES_TMPDIR": str(self.state / "tmp"),
                "ES_JAVA_OPTS": f"-Xms{self.svc.heap} -Xmx{self.svc.heap}",
                "CLI_JAVA_OPTS": "-Xmx64m",
                "HOME": str(self.state),
            }
            self.log.unlink(missing_ok=True)
            start_process(
                [str(self.dist / "bin" / "elasticsearch")],
                self.log,
                self.pidfile,
                env=env,
                user=user,
                cwd=self.state,
            )
            if user is not None:
                os.chown(self.log, pwd.getpwnam(user).pw_uid, -1)
        try:
            wait_until(self.healthy, self.cfg.services.start_timeout_s, "Elasticsearch", self.log)
        except VodlakeError:
            if read_pid(self.pidfile) is None:
                raise VodlakeError(
                    "Elasticsearch exited while starting: " + log_tail(self.log, 3),
                    hint=f"see its logs: {self.log} and {self.state / 'logs'}",
                ) from None
            raise
        return True

    def down(self) -> bool:
        return stop_process(self.pidfile, MARKER, timeout=60)

    def status(self) -> ServiceStatus:
        pid = read_pid(self.pidfile)
        healthy = self.healthy()
        detail = "healthy" if healthy else ("starting or unhealthy" if pid else "stopped")
        if healthy:
            _, _, body = http_json(self.address + "/")
            detail += f" (version {body.get('version', {}).get('number', '?')})"
        return ServiceStatus(NAME, self.address, pid is not None, healthy, detail, pid)
