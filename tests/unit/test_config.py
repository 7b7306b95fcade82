from __future__ import annotations

from pathlib import Path

import pytest

from vodlake.config import ConfigError, conf_dir, env_overrides, load_config


def test_every_env_file_loads() -> None:
    for env in ("local", "test", "cluster"):
        cfg = load_config(env, environ={})
        assert cfg.env == env
        assert "{home}" not in cfg.paths.lake
    assert load_config("cluster", environ={}).services.autostart is False


def test_home_is_expanded_into_every_path() -> None:
    cfg = load_config("local", overrides={"paths": {"home": "/data/x"}}, environ={})
    assert cfg.paths.lake == "/data/x/lake"
    assert cfg.paths.work == "/data/x/work"
    # services are machine-level: moving the data leaves them (and their downloads) in place
    assert cfg.services.state_dir == "/var/tmp/vodlake/services"


def test_origin_is_the_object_store_bucket_and_uploads_follow_it() -> None:
    cfg = load_config("local", overrides={"objectstore": {"bucket": "b-1"}}, environ={})
    assert cfg.paths.origin == "s3a://b-1"
    assert cfg.paths.uploads == "s3a://b-1/uploads"
    assert cfg.paths.reports == "s3a://b-1/reports"
    assert not cfg.paths.lake.startswith("s3a://")  # the lake stays local by default
    on_s3 = load_config("local", overrides={"objectstore": {"lake_on_s3a": True}}, environ={})
    assert on_s3.paths.lake == "s3a://vodlake-lake/lake"


def test_each_test_config_has_its_own_origin_prefix() -> None:
    a = load_config("test", overrides={"paths": {"home": "/tmp/a/home"}}, environ={})
    b = load_config("test", overrides={"paths": {"home": "/tmp/b/home"}}, environ={})
    assert a.paths.origin == "s3a://vodlake-origin/test/tmp/a/home"
    assert a.paths.uploads == a.paths.origin + "/uploads"
    assert b.paths.origin != a.paths.origin


def test_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("spark:\n  mastr: local[2]\n")
    (tmp_path / "local.yaml").write_text("{}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'spark\.mastr'"):
        load_config("local", directory=tmp_path, environ={})


def test_wrong_type_is_named(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("kafka:\n  partitions: many\n")
    (tmp_path / "local.yaml").write_text("{}\n")
    with pytest.raises(ConfigError, match=r"key 'kafka\.partitions'"):
        load_config("local", directory=tmp_path, environ={})


def test_missing_env_file_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no conf file for environment 'nope'"):
        load_config("nope", environ={})


def test_environment_variables_override_files() -> None:
    environ = {
        "VODLAKE__SPARK__MASTER": "spark://127.0.0.1:7077",
        "VODLAKE__KAFKA__PARTITIONS": "9",
    }
    cfg = load_config("local", environ=environ)
    assert cfg.spark.master == "spark://127.0.0.1:7077"
    assert cfg.kafka.partitions == 9
    assert env_overrides({"VODLAKE__A__B": "x", "OTHER": "y"}) == {"a": {"b": "x"}}


def test_env_variable_with_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown key .spark\.nope."):
        load_config("local", environ={"VODLAKE__SPARK__NOPE": "1"})


def test_no_secrets_in_conf_files() -> None:
    for path in conf_dir().glob("*.yaml"):
        text = path.read_text().lower()
        assert "password:" not in text and "secret" not in text.replace("secrets", ""), path


def test_ladder_and_topology_are_typed() -> None:
    cfg = load_config("local", environ={})
    assert [r.height for r in cfg.transcode.ladder] == sorted(
        r.height for r in cfg.transcode.ladder
    )
    edge = cfg.topology.edges[0]
    # 1.2 Gbps for 12 h is 6.48 TB: the Open Connect nightly fill figure
    assert edge.fill_budget_bytes == int(1.2e9 / 8 * 12 * 3600)
