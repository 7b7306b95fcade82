from __future__ import annotations

import pytest

from vodlake import versions
from vodlake.cli import COMMANDS, main
from vodlake.lake.session import spark_conf
from vodlake.runtime import overrides_from


def test_one_spark_version_for_pyspark_and_kafka_connector() -> None:
    import pyspark

    assert pyspark.__version__ == versions.SPARK_VERSION
    assert f"spark-sql-kafka-0-10_2.12:{pyspark.__version__}" in versions.spark_packages_arg()


def test_every_connector_is_scala_2_12() -> None:
    for coordinate in versions.SPARK_PACKAGES:
        group, artifact = coordinate.split(":")[:2]
        if group in ("org.apache.hadoop", "com.amazonaws"):  # plain Java: hadoop-aws, AWS SDK
            continue
        assert artifact.endswith("_2.12"), coordinate


def test_session_conf_uses_the_pinned_packages(cfg) -> None:
    conf = spark_conf(cfg)
    if "spark.jars.packages" in conf:  # first run: Ivy resolves the pinned packages
        assert conf["spark.jars.packages"] == versions.spark_packages_arg()
        assert conf["spark.jars.excludes"] == versions.spark_excludes_arg()
    else:  # later runs: exactly the jars Ivy resolved for this package set
        names = [j.rsplit("/", 1)[1] for j in conf["spark.jars"].split(",")]
        for coordinate in versions.SPARK_PACKAGES:
            group, artifact, version = coordinate.split(":")
            assert f"{group}_{artifact}-{version}.jar" in names
        assert not any("spark-core" in n or "hadoop-client" in n for n in names)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.shuffle.partitions"] == str(cfg.spark.shuffle_partitions)


def test_overrides_parse_dotted_keys() -> None:
    assert overrides_from(["a.b=3", "c=x"]) == {"a": {"b": 3}, "c": "x"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([name, "--help"])
    except SystemExit as exc:  # argparse's own --help
        code = exc.code
    assert code == 0
    assert f"vodlake {name}" in capsys.readouterr().out


def test_unknown_job_is_one_line_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["job", "no_such_job"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: no job named 'no_such_job'"
    assert err[1].startswith("hint: choose one of:")
