"""The transcode on a real Spark standalone cluster: one master and two one-core workers
started from the pyspark install's bin/spark-class on 127.0.0.1.

The test session's own SparkSession is local, so the cluster job runs in a separate driver
process: `vodlake stream uploads --once --master spark://127.0.0.1:<port>`. The task records
show where the encode units ran, twice over: the executor id each unit task wrote into the
`segments` table, and Spark's own event log (the tasks of the "encode units" job). Every
process the test starts is stopped at the end, and nothing is left running in its folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_transcode import overrides, set_args, vodlake_cmd
from vodlake.catalog import uploads
from vodlake.media.samples import make_sample

pytestmark = pytest.mark.integration

ENCODE_JOB = "vodlake: encode units"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def wait_for(what: str, check, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def processes_under(folder: Path) -> list[int]:
    """Pids whose working directory is inside `folder` (executors, Python workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if str(Path(os.readlink(entry / "cwd"))).startswith(str(folder)):
                found.append(int(entry.name))
    return found


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each started process group (its java and the executors it spawned), then KILL."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("standalone")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "256m",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(root / "logs"),
    }
    port, ui = free_port(), free_port()
    procs: list[subprocess.Popen] = []

    def launch(name: str, *args: str) -> None:
        log = (root / f"{name}.log").open("w")
        procs.append(
            subprocess.Popen(
                [str(spark_class()), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        )

    try:
        launch(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui),
        )  # fmt: skip
        wait_for("the master", lambda: get_json(f"http://127.0.0.1:{ui}/json/"))
        for i in range(2):
            work = root / f"worker{i}"
            work.mkdir()
            launch(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                "--port", str(free_port()), "--webui-port", str(free_port()),
                "--work-dir", str(work),
            )  # fmt: skip

        def two_alive() -> bool:
            workers = get_json(f"http://127.0.0.1:{ui}/json/")["workers"]
            return sum(w["state"] == "ALIVE" for w in workers) == 2

        wait_for("two workers", two_alive)
        yield {"master": f"spark://127.0.0.1:{port}", "ui": ui, "root": root}
    finally:
        stop(procs)
        assert all(p.poll() is not None for p in procs)
        wait_for("no process left in the cluster folders", lambda: not processes_under(root), 30)


@pytest.fixture(scope="module")
def cluster_run(live_services, cluster, tmp_path_factory) -> dict[str, Any]:
    from vodlake.config import load_config

    home = tmp_path_factory.mktemp("cluster-home")
    tree = overrides(home, f"uploads-{uuid.uuid4().hex[:10]}")
    cfg = load_config("test", overrides=tree)
    clip = make_sample(home / "media" / "clip.mp4", 7, 320, 180, source="mandelbrot")
    result = uploads.upload(cfg, clip, uploads.Metadata(title="On the cluster"))
    events = cluster["root"] / "eventlog"
    events.mkdir()
    extra = {
        "spark.executor.memory": "512m",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"file://{events}",
        # start only when both executors are there, so units can spread over them
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
    }
    env = {
        **os.environ,
        "VODLAKE_ENV": "test",
        "PYSPARK_PYTHON": sys.executable,
        "VODLAKE__SPARK__EXTRA": json.dumps(extra),
    }
    proc = subprocess.run(
        vodlake_cmd(
            "stream", "uploads", "--once", "--master", cluster["master"], *set_args(tree)
        ),
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"cfg": cfg, "video_id": result.video_id, "log": proc.stderr, "eventlog": events}


def test_the_video_is_ready(cluster_run, spark) -> None:
    from vodlake.lake.tables import Tables

    video = (
        Tables(cluster_run["cfg"])
        .read(spark, "videos")
        .where(f"video_id = '{cluster_run['video_id']}'")
        .first()
    )
    assert video.status == "ready", video.reason
    assert video.renditions == ["144p", "180p", "audio"]


def test_segments_record_units_on_more_than_one_executor(cluster_run, spark) -> None:
    from vodlake.lake.tables import Tables

    rows = (
        Tables(cluster_run["cfg"])
        .read(spark, "segments")
        .where("unit_idx IS NOT NULL")
        .select("unit_idx", "executor_id")
        .distinct()
        .collect()
    )
    units = {r.unit_idx: r.executor_id for r in rows}
    assert sorted(units) == [0, 1, 2, 3]  # 7 s in 2 s segments, one segment per unit
    assert "driver" not in units.values()
    assert len(set(units.values())) >= 2, units


def test_spark_event_log_shows_encode_tasks_on_both_executors(cluster_run) -> None:
    logs = list(cluster_run["eventlog"].iterdir())
    assert len(logs) == 1
    encode_stages: set[int] = set()
    executors: dict[str, str] = {}
    task_executors: list[str] = []
    for line in logs[0].read_text().splitlines():
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerExecutorAdded":
            executors[event["Executor ID"]] = event["Executor Info"]["Host"]
        elif kind == "SparkListenerJobStart":
            if (event.get("Properties") or {}).get("spark.job.description") == ENCODE_JOB:
                encode_stages.update(event["Stage IDs"])
        elif (
            kind == "SparkListenerTaskEnd"
            and event["Stage ID"] in encode_stages
            and event["Task End Reason"]["Reason"] == "Success"
        ):
            task_executors.append(event["Task Info"]["Executor ID"])
    assert len(executors) == 2 and set(executors.values()) == {"127.0.0.1"}
    assert len(task_executors) == 4 + 1  # four video units and the audio unit
    assert set(task_executors) == set(executors), task_executors


def test_the_master_saw_the_application(cluster, cluster_run) -> None:
    state = get_json(f"http://127.0.0.1:{cluster['ui']}/json/")
    apps = state["completedapps"] + state["activeapps"]
    assert any(a["name"] == "vodlake-stream-uploads" for a in apps), apps
