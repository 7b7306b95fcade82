"""The spark tier: transforms and jobs on a local SparkSession (a JVM), no Kafka or ES.

Every test here gets the `spark` marker, so `pytest -m "not spark"` skips the JVM.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.spark)
