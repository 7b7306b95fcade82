"""The integration tier: real Kafka, Elasticsearch, Delta tables and ffmpeg.

Every test here gets the `integration` marker. The media samples (made once by ffmpeg per
pytest run) are shared by the media tests.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tests.conftest import RUN_DIR_ENV
from tests.media_fixtures import Samples, build_samples

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def _services(live_services: list[str]) -> list[str]:
    """Every integration test runs with the shared services up, whichever worker it lands on
    and whatever ran before it there (a test must not depend on another having started them)."""
    return live_services


@pytest.fixture(scope="session")
def samples() -> Samples:
    """The sample clips of tests.media_fixtures, made once per run and shared by the workers
    (the first one makes them under a lock; existing files are reused)."""
    run_dir = Path(os.environ[RUN_DIR_ENV])
    with (run_dir / "samples.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_samples(run_dir / "media-samples")
