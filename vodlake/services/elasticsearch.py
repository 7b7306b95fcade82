"""Local Elasticsearch on 127.0.0.1 from the Maven Central integ-test zip (no Docker): 1 or N nodes.

Elasticsearch refuses to run as root, so when vodlake runs as root the nodes run as a dedicated
system user (services.elasticsearch.user), created on first start. Everything a node writes
(config copy, data, logs, tmp) lives under <state_dir>/elasticsearch (one node) or
<state_dir>/elasticsearch/node-<i> (`services.elasticsearch.nodes` > 1), owned by that user.
Node i serves HTTP on elasticsearch.port + i-1 and transport on elasticsearch.port + 100 + i-1;
several nodes find each other through `discovery.seed_hosts` and bootstrap one cluster from
`cluster.initial_master_nodes` (all of them master-eligible data nodes).
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
from dataclasses import dataclass
from pathlib import Path

from vodlake import versions
from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.services.common import (
    NodeStatus,
    ServiceStatus,
    cmdline,
    find_java,
    group_pids,
    maven_copy_artifact,
    port_open,
    read_pid,
    start_process,
    stop_processes,
    wait_for_nodes,
)

NAME = "elasticsearch"
MARKER = "elasticsearch"
SERVER_MAIN = "org.elasticsearch.bootstrap.Elasticsearch"


def http_json(url: str, timeout: float = 3.0) -> tuple[int, dict, dict]:
    """GET url -> (status, headers, json body); (0, {}, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), {}
    except (OSError, ValueError):
        return 0, {}, {}


@dataclass(frozen=True)
class EsNode:
    index: int
    http_port: int
    transport_port: int
    state: Path

    @property
    def name(self) -> str:
        return f"vodlake-{self.index}"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pidfile(self) -> Path:
        return self.state / "launcher.pid"

    @property
    def log(self) -> Path:
        return self.state / "console.log"

    def pid(self) -> int | None:
        """The launcher's pid while it runs (it starts the server JVM and waits on it)."""
        pid = read_pid(self.pidfile)
        return pid if pid is not None and MARKER in cmdline(pid) else None

    def server_pid(self) -> int | None:
        """The node's server JVM (a child of the launcher, in its process group)."""
        launcher = self.pid()
        if launcher is None:
            return None
        return next((p for p in group_pids(launcher) if SERVER_MAIN in cmdline(p)), None)


class ElasticsearchService:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.svc = cfg.services.elasticsearch
        self.count = self.svc.nodes
        self.port = cfg.elasticsearch.port
        self.transport_port = self.port + 100
        self.state = Path(cfg.services.state_dir) / "elasticsearch"
        self.dist = Path(cfg.services.cache_dir) / f"elasticsearch-{versions.ELASTICSEARCH_VERSION}"
        self.nodes = [
            EsNode(
                i,
                self.port + i - 1,
                self.transport_port + i - 1,
                self.state if self.count == 1 else self.state / f"node-{i}",
            )
            for i in range(1, self.count + 1)
        ]
        self.pidfile = self.nodes[0].pidfile
        self.log = self.nodes[0].log

    def node(self, index: int) -> EsNode:
        return self.nodes[index - 1]

    @property
    def address(self) -> str:
        return ",".join(n.address for n in self.nodes)

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

    def _settings(self, node: EsNode) -> list[str]:
        """elasticsearch.yml lines: single-node discovery for one, a bootstrapped cluster for N."""
        if self.count == 1:
            discovery = ["discovery.type: single-node"]
        else:
            seeds = ", ".join(f'"127.0.0.1:{n.transport_port}"' for n in self.nodes)
            masters = ", ".join(f'"{n.name}"' for n in self.nodes)
            discovery = [
                f"discovery.seed_hosts: [{seeds}]",
                f"cluster.initial_master_nodes: [{masters}]",
            ]
        return [
            "cluster.name: vodlake",
            f"node.name: {node.name}",
            f"path.data: {node.state / 'data'}",
            f"path.logs: {node.state / 'logs'}",
            "network.host: 127.0.0.1",
            f"http.port: {node.http_port}",
            f"transport.port: {node.transport_port}",
            *discovery,
            "xpack.security.enabled: false",
            "cluster.routing.allocation.disk.threshold_enabled: false",
            "action.destructive_requires_name: false",
            "",
        ]

    def _prepare(self, node: EsNode, user: str | None) -> Path:
        conf = node.state / "config"
        for sub in ("data", "logs", "tmp"):
            (node.state / sub).mkdir(parents=True, exist_ok=True)
        if not conf.exists():
            shutil.copytree(self.dist / "config", conf)
        (conf / "elasticsearch.yml").write_text("\n".join(self._settings(node)))
        # every parent must be traversable by the service user
        for parent in [node.state, *node.state.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o711)
        if user is not None:
            info = pwd.getpwnam(user)
            for path in [node.state, *node.state.rglob("*")]:
                os.chown(path, info.pw_uid, info.pw_gid)
        return conf

    # --- lifecycle -------------------------------------------------------------------------
    def cluster_health(self) -> dict:
        """`_cluster/health` from the first node that answers ({} when none does)."""
        for node in self.nodes:
            status, _, body = http_json(f"{node.address}/_cluster/health")
            if status == 200 and body:
                return body
        return {}

    def healthy(self) -> bool:
        """Every node answers and they form one cluster serving every primary (yellow or green)."""
        body = self.cluster_health()
        if body.get("status") not in ("green", "yellow"):
            return False
        if body.get("number_of_nodes", 0) < self.count:
            return False
        # es-hadoop discovers the cluster with GET / and insists on the product header.
        for node in self.nodes:
            status, headers, _ = http_json(node.address + "/")
            if status != 200 or headers.get("X-elastic-product") != "Elasticsearch":
                return False
        return True

    def start_node(self, node: EsNode) -> bool:
        """Start one node unless it runs; True when this call started it (no waiting)."""
        if node.pid() is not None:
            return False
        for port in (node.http_port, node.transport_port):
            if port_open("127.0.0.1", port):
                raise VodlakeError(
                    f"port {port} is taken by a process vodlake did not start",
                    hint="stop it, or set elasticsearch.port",
                )
        java = find_java(self.svc.java_home, min_major=17)
        self.fetch()
        self.install_root_plugin()
        user = self._run_user()
        conf = self._prepare(node, user)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ES_JAVA_HOME": str(java.parent.parent),
            "ES_PATH_CONF": str(conf),
            "ES_TMPDIR": str(node.state / "tmp"),
            "ES_JAVA_OPTS": f"-Xms{self.svc.heap} -Xmx{self.svc.heap}",
            "CLI_JAVA_OPTS": "-Xmx64m",
            "HOME": str(node.state),
        }
        node.log.unlink(missing_ok=True)
        start_process(
            [str(self.dist / "bin" / "elasticsearch")],
            node.log,
            node.pidfile,
            env=env,
            user=user,
            cwd=node.state,
        )
        if user is not None:
            os.chown(node.log, pwd.getpwnam(user).pw_uid, -1)
        return True

    def up(self) -> bool:
        """Start every node that is not running; True when this call started any."""
        if self.healthy():
            return False
        started = [n for n in self.nodes if self.start_node(n)]
        wait_for_nodes(
            self.healthy,
            self.nodes,
            self.cfg.services.start_timeout_s,
            "Elasticsearch",
            self.log,
            lambda n: (f"node {n.name}", f"see its logs: {n.log} and {n.state / 'logs'}"),
        )
        return bool(started)

    def down(self) -> bool:
        """Stop every node at once; True when any was running."""
        return stop_processes([n.pidfile for n in self.nodes], MARKER, timeout=60)

    def _cat(self, what: str) -> list[dict]:
        for node in self.nodes:
            status, _, body = http_json(f"{node.address}/_cat/{what}")
            if status == 200:
                return body if isinstance(body, list) else []
        return []

    def status(self) -> ServiceStatus:
        pids = {n.index: n.pid() for n in self.nodes}
        healthy = self.healthy()
        health = self.cluster_health()
        members = {r.get("name"): r for r in self._cat("nodes?format=json&h=name,master")}
        shards = self._cat("shards?format=json&h=index,shard,prirep,state,node")
        primaries = {
            n.name: sum(s.get("prirep") == "p" and s.get("node") == n.name for s in shards)
            for n in self.nodes
        }
        nodes = tuple(
            NodeStatus(
                n.name,
                n.address,
                pids[n.index] is not None and n.name in members,
                pids[n.index],
                "master" if members.get(n.name, {}).get("master") == "*" else "",
                primaries[n.name],
            )
            for n in self.nodes
        )
        if healthy:
            detail = "healthy"
            _, _, body = http_json(self.nodes[0].address + "/")
            detail += f" (version {body.get('version', {}).get('number', '?')})"
        elif any(pids.values()):
            detail = "starting or unhealthy"
        else:
            detail = "stopped"
        if health and self.count > 1:
            detail += f", {health.get('number_of_nodes', 0)}/{self.count} nodes"
        if health.get("unassigned_shards"):
            detail += f", {health['unassigned_shards']} unassigned shards"
        return ServiceStatus(
            NAME,
            self.address,
            any(pids.values()),
            healthy,
            detail,
            pids[1],
            health.get("status", "red" if any(pids.values()) else ""),
            nodes,
        )
