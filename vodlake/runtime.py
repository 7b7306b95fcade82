"""What every job and streaming query does first: parse common options, load config, get a session.

Both `spark-submit jobs/x.py ...` and `vodlake job x ...` come through here, so they accept the
same options and get the same settings.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import yaml
from pyspark.sql import SparkSession

from vodlake.config import Config, load_config


def add_common_options(
    parser: argparse.ArgumentParser,
    *,
    env: bool = True,
    master_help: str = "Spark master, e.g. spark://host:7077",
) -> None:
    """--env, --master and --set, so jobs and commands read them into the same `args` fields.

    `env=False` for `vodlake` subcommands: there --env is the global option before the command.
    """
    if env:
        parser.add_argument("--env", default=None, help="conf/<env>.yaml to load (default: local)")
    parser.add_argument("--master", default=None, help=master_help)
    add_set_option(parser)


def add_set_option(
    parser: argparse.ArgumentParser, example: str = "paths.home=/data/vodlake"
) -> None:
    """--set KEY=VALUE (repeatable) into `args.overrides`, read by config_from."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key, e.g. --set {example} (repeatable)",
    )


def job_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with the options every vodlake job takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_common_options(parser)
    return parser


def overrides_from(pairs: list[str]) -> dict[str, Any]:
    """["a.b=1", "c=x"] -> {"a": {"b": 1}, "c": "x"} (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            from vodlake.config import ConfigError

            raise ConfigError(f"--set takes KEY=VALUE, got '{pair}'")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw else ""
    return out


def config_from(args: argparse.Namespace) -> Config:
    env = getattr(args, "env", None) or os.environ.get("VODLAKE_ENV", "local")
    return load_config(env, overrides=overrides_from(getattr(args, "overrides", []) or []))


def spark_from(args: argparse.Namespace, cfg: Config, app_name: str) -> SparkSession:
    from vodlake.lake.session import get_spark

    return get_spark(cfg, app_name=app_name, master=getattr(args, "master", None))
