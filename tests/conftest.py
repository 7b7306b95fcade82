"""Shared fixtures: one small-data SparkSession, the real local services, per-test names.

Integration tests talk to the real Kafka broker, Elasticsearch node, Delta tables and ffmpeg.
The services are started when they are not running and stopped again at the end if this test
session started them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("VODLAKE_ENV", "test")


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

    started = services.require(cfg, services.SERVICE_NAMES, start=True)
    # the store's keys as AWS_* before any JVM or Spark worker starts (they inherit them)
    export_credentials(cfg)
    yield started
    if started and not os.environ.get("VODLAKE_KEEP_SERVICES"):
        services.down(cfg, started)


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
