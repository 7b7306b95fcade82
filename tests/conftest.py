"""Shared fixtures: one small-data SparkSession, the real local services, per-test names.

Integration tests talk to the real Kafka broker, Elasticsearch node, Delta tables and ffmpeg.
The services are started when they are not running and stopped again at the end if this test
run started them.

`make test` runs the suite in two pytest-xdist workers (`-n 2 --dist loadfile`: a file's tests
stay together, so a module fixture is built once). Most of the suite waits (on brokers, triggers,
players playing in real time), so two workers on two cores finish far sooner than one. The
workers share the services: the first to need them starts them under a file lock, and the
controller stops them once every worker is done (VODLAKE_TEST_RUN_DIR holds the lock and the
list of what was started). Everything else a test starts is its own (tmp_path homes, topics and
indices with unique names, edges on loopback prefixes and free ports).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("VODLAKE_ENV", "test")
RUN_DIR_ENV = "VODLAKE_TEST_RUN_DIR"
_STARTED = "services-started"
_OWN_RUN_DIR = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    """In the controlling process (or the only one): a directory this run's workers share."""
    if not hasattr(config, "workerinput") and RUN_DIR_ENV not in os.environ:
        os.environ[RUN_DIR_ENV] = tempfile.mkdtemp(prefix="vodlake-test-run-")
        config.stash[_OWN_RUN_DIR] = True


def pytest_unconfigure(config: pytest.Config) -> None:
    """Once every worker has finished: stop the services this run started, unless asked to
    keep them (VODLAKE_KEEP_SERVICES=1), and drop the shared directory."""
    if not config.stash.get(_OWN_RUN_DIR, False):
        return
    run_dir = Path(os.environ.pop(RUN_DIR_ENV))
    record = run_dir / _STARTED
    names = sorted(set(record.read_text().split())) if record.exists() else []
    if names and not os.environ.get("VODLAKE_KEEP_SERVICES"):
        from vodlake import services
        from vodlake.config import load_config

        services.down(load_config("test"), names)  # their state is machine-level
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vodlake-home")


@pytest.fixture(scope="session")
def cfg(base_home: Path):
    """The `test` config with data under a session temp dir."""
    from vodlake.config import load_config

    return load_config("test", overrides={"paths": {"home": str(base_home)}})


@pytest.fixture
def make_cfg(tmp_path: Path):
    """A `test` config whose tables, checkpoints and origin live under this test's tmp_path."""
    from vodlake.config import load_config

    def _make(**overrides):
        merged = {"paths": {"home": str(tmp_path / "home")}}
        for key, value in overrides.items():
            merged[key] = value
        return load_config("test", overrides=merged)

    return _make


@pytest.fixture(scope="session")
def live_services(cfg) -> Iterator[list[str]]:
    """Kafka, Elasticsearch and the S3 object store, real, on 127.0.0.1."""
    from vodlake import services
    from vodlake.services.objectstore import export_credentials

    run_dir = Path(os.environ[RUN_DIR_ENV])
    with (run_dir / "services.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker starts them, the others wait and reuse
        started = services.require(cfg, services.SERVICE_NAMES, start=True)
        with (run_dir / _STARTED).open("a") as record:
            record.write("".join(f"{name}\n" for name in started))
    # the store's keys as AWS_* before any JVM or Spark worker starts (they inherit them)
    export_credentials(cfg)
    yield started  # stopped by pytest_unconfigure of the controlling process


@pytest.fixture(scope="session")
def spark(cfg):
    """One SparkSession for the whole run, tuned for small data (conf/test.yaml)."""
    from vodlake.lake.session import get_spark

    session = get_spark(cfg, app_name="vodlake-tests")
    yield session
    session.stop()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for this test's topics, indices and tables."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def chromium_page() -> Iterator:
    """A page in Debian's chromium (installed by `vodlake setup`, no browser download) driven by
    playwright, with autoplay allowed so players start without a click."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()
