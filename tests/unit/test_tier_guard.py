"""The unit tier's guard (tests/unit/conftest.py) stops a JVM or ffmpeg before it starts."""

from __future__ import annotations

import subprocess

import pytest
from pyspark.sql import SparkSession


@pytest.mark.parametrize("program", ["ffmpeg", "ffprobe", "java", "/usr/bin/java"])
def test_starting_a_forbidden_program_raises(program: str) -> None:
    with pytest.raises(RuntimeError, match="must not start") as err:
        subprocess.run([program, "-version"], capture_output=True, check=False)
    assert type(err.value).__name__ == "ForbiddenInUnitTier"


def test_building_a_spark_session_raises() -> None:
    # (conftest is imported by pytest under its own module name, so match the class by name)
    with pytest.raises(RuntimeError, match="SparkSession") as err:
        SparkSession.builder.master("local[1]").getOrCreate()
    assert type(err.value).__name__ == "ForbiddenInUnitTier"


def test_other_programs_still_run() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0
