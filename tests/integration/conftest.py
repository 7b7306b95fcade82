"""The integration tier: real Kafka, Elasticsearch, Delta tables and ffmpeg.

Every test here gets the `integration` marker. The media samples (made once by ffmpeg per
pytest run) are shared by the media tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media_fixtures import Samples, build_samples

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    """The sample clips of tests.media_fixtures, made once per run."""
    return build_samples(tmp_path_factory.getbasetemp() / "media-samples")
