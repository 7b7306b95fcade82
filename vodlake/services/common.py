"""Process and artifact plumbing shared by the local Kafka broker and Elasticsearch node."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodlake.errors import VodlakeError


@dataclass(frozen=True)
class NodeStatus:
    """One broker or search node of a local cluster, as `vodlake services status` lists it."""

    name: str
    address: str
    running: bool
    pid: int | None = None
    # "controller" (Kafka's active KRaft controller) or "master" (Elasticsearch's elected one)
    role: str = ""
    # partitions this broker leads / primary shards this node holds
    leaders: int = 0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    running: bool
    healthy: bool
    detail: str
    pid: int | None = None
    # green: every node up and every partition/shard fully replicated; yellow: serving with
    # fewer copies; red: something is not served (no leader, unassigned primary). "" = unknown.
    health: str = ""
    nodes: tuple[NodeStatus, ...] = ()


def find_java(java_home: str | None = None, min_major: int = 17) -> Path:
    """The `java` binary to run services with, checked to be at least `min_major`."""
    candidates: list[Path] = []
    for home in (java_home, os.environ.get("JAVA_HOME")):
        if home:
            candidates.append(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    for java in candidates:
        if java.exists() and java_major(java) >= min_major:
            return java
    raise VodlakeError(
        f"Java {min_major}+ not found",
        hint="install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
    )


def java_major(java: Path) -> int:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for token in out.split():
        token = token.strip('"')
        if token[:1].isdigit():
            major = token.split(".")[0]
            return int(major) if major.isdigit() else 0
    return 0


def find_maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise VodlakeError(
            "Maven (mvn) not found; it fetches Kafka and Elasticsearch from Maven Central",
            hint="install it: apt-get install maven",
        )
    return mvn


def maven_copy_dependencies(artifacts: tuple[str, ...], dest: Path, work: Path) -> None:
    """Resolve `artifacts` (group:artifact:version) and their runtime deps into `dest`."""
    work.mkdir(parents=True, exist_ok=True)
    deps = "\n".join(
        "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version>"
        "</dependency>".format(*a.split(":")[:3])
        for a in artifacts
    )
    (work / "pom.xml").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>vodlake</groupId><artifactId>vodlake-services</artifactId>"
        f"<version>0</version><dependencies>{deps}</dependencies></project>"
    )
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    _mvn(
        ["dependency:copy-dependencies", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
        work,
    )
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def maven_copy_artifact(artifact: str, dest_dir: Path, work: Path) -> Path:
    """Download one artifact (group:artifact:version:packaging) into dest_dir; return its path."""
    work.mkdir(parents=True, exist_ok=True)
    dest_dir.mkdir(parents=True, exist_ok=True)
    _mvn(["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={dest_dir}"], work)
    _, name, version, packaging = artifact.split(":")
    return dest_dir / f"{name}-{version}.{packaging}"


def _mvn(goals: list[str], cwd: Path) -> None:
    cmd = [find_maven(), "-q", "-B", *goals]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise VodlakeError(
            "Maven could not fetch the service artifacts: " + " | ".join(tail),
            hint="check that Maven Central is reachable (mvn -v; ~/.m2/settings.xml)",
        )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_process(
    cmd: list[str],
    log: Path,
    pidfile: Path,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `cmd` in its own process group (so `stop_process` can end all of it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            user=user,
            start_new_session=True,
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


def stop_process(pidfile: Path, marker: str, timeout: float = 30.0) -> bool:
    """Stop the process group recorded in `pidfile` if its command line contains `marker`."""
    pid = read_pid(pidfile)
    if pid is None or marker not in cmdline(pid):
        pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        _reap(pid)
        time.sleep(0.2)
    if _group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    _reap(pid)
    pidfile.unlink(missing_ok=True)
    return True


def stop_processes(pidfiles: list[Path], marker: str, timeout: float = 30.0) -> bool:
    """Stop the processes of `pidfiles` in parallel (nodes of one cluster wait on each other's
    quorum when stopped one by one); True when any was running."""
    with ThreadPoolExecutor(max_workers=max(1, len(pidfiles))) as pool:
        stopped = list(pool.map(lambda p: stop_process(p, marker, timeout=timeout), pidfiles))
    return any(stopped)


def group_pids(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(proc.name))
    return pids


def _group_alive(pgid: int) -> bool:
    return bool(group_pids(pgid))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise VodlakeError(
        f"{what} did not become healthy within {timeout:.0f}s",
        hint=f"see its log: {log}",
    )


def wait_for_nodes(
    healthy: Callable[[], bool],
    nodes: list[Any],
    timeout: float,
    what: str,
    log: Path,
    describe: Callable[[Any], tuple[str, str]],
) -> None:
    """Wait until a cluster is `healthy`. When it is not in time and a node has died, the error
    names that node and ends with its log (a dead node is the usual cause, and its log says
    why); `describe(node)` gives the node's name and the hint pointing at its logs."""
    try:
        wait_until(healthy, timeout, what, log)
    except VodlakeError:
        dead = [n for n in nodes if n.pid() is None]
        if not dead:
            raise
        name, hint = describe(dead[0])
        raise VodlakeError(
            f"{what} {name} exited while starting: " + log_tail(dead[0].log, 3), hint=hint
        ) from None


def log_tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
