"""The unit tier starts no JVM and no ffmpeg: a test that tries fails with the reason.

While a test under tests/unit sets up, runs and tears down, starting `java`, `spark-submit`,
`ffmpeg` or `ffprobe` raises (every subprocess goes through `Popen._execute_child`, including
pyspark's gateway launch), and so does building a SparkSession even when another tier already
started one in this pytest run. Tests that need Spark live in tests/spark, ffmpeg and real
services in tests/integration.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

FORBIDDEN = {"java", "spark-submit", "spark-class", "ffmpeg", "ffprobe"}
FORBIDDEN_FIXTURES = {"spark", "live_services"}
HERE = Path(__file__).resolve().parent


class ForbiddenInUnitTier(RuntimeError):
    """A unit test tried to start a JVM or ffmpeg."""


def _program(args: object) -> str:
    first = args if isinstance(args, (str, bytes, os.PathLike)) else next(iter(args), "")
    name = os.fsdecode(first).split()[0] if os.fsdecode(first).strip() else ""
    return os.path.basename(name)


def _refuse_spark(*_args: object, **_kwargs: object) -> None:
    raise ForbiddenInUnitTier("tests/unit must not build a SparkSession: move it to tests/spark")


@pytest.fixture
def _no_jvm_no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed around every unit test by the hooks below."""
    real = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def guarded(self: subprocess.Popen, args: object, *rest: object, **kw: object) -> object:
        program = _program(args)
        if program in FORBIDDEN:
            raise ForbiddenInUnitTier(
                f"tests/unit must not start {program!r}: move the test to tests/spark "
                "(JVM) or tests/integration (ffmpeg, services)"
            )
        return real(self, args, *rest, **kw)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", guarded)
    from pyspark.sql import SparkSession

    monkeypatch.setattr(SparkSession.Builder, "getOrCreate", _refuse_spark)


def _in_unit_tier(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the guard first in every unit test's fixtures, before any session fixture."""
    for item in items:
        if _in_unit_tier(item):
            item.fixturenames.insert(0, "_no_jvm_no_ffmpeg")  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse the JVM and service fixtures even when another tier already started them."""
    bad = FORBIDDEN_FIXTURES & set(getattr(item, "fixturenames", ()))
    if _in_unit_tier(item) and bad:
        pytest.fail(f"tests/unit must not use the {sorted(bad)} fixture(s): move to tests/spark")
