"""The one SparkSession builder: Delta, Kafka and Elasticsearch connectors, small-machine defaults.

`spark-submit jobs/x.py` and `vodlake job x` both end here, so a job gets the same settings
either way. Settings given on the spark-submit command line win (the builder only fills what is
not already set); `--master` on our own command lines wins over conf.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from vodlake import versions
from vodlake.config import Config
from vodlake.lake.storage import hadoop_s3a_conf
from vodlake.services.objectstore import export_credentials


def spark_conf(cfg: Config, app_name: str | None = None) -> dict[str, str]:
    """Every Spark setting vodlake relies on, as plain key/value pairs (also used by tests)."""
    conf: dict[str, str] = {
        "spark.app.name": app_name or cfg.spark.app_name,
        "spark.driver.memory": cfg.spark.driver_memory,
        "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Adaptive execution (Spark's default) on: it coalesces small shuffle partitions and
        # picks join strategies from the sizes it sees at runtime.
        "spark.sql.adaptive.enabled": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        # Executors must run the same interpreter as the driver (a virtualenv's, not PATH's).
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "spark.jars.ivy": str(Path(cfg.services.cache_dir) / "ivy"),
    }
    if cfg.spark.packages:
        resolved = _resolved_jars(cfg)
        if resolved:
            # resolved once before: skip Ivy (faster start, no resolution noise, works offline)
            conf["spark.jars"] = ",".join(resolved)
        else:
            conf["spark.jars.packages"] = versions.spark_packages_arg()
            conf["spark.jars.excludes"] = versions.spark_excludes_arg()
    # s3a on the object store (the origin; the lake with objectstore.lake_on_s3a)
    conf.update(hadoop_s3a_conf(cfg))
    conf.update(cfg.spark.extra)
    return conf


def _jar_list_file(cfg: Config) -> Path:
    key = hashlib.sha256(
        (versions.spark_packages_arg() + "|" + versions.spark_excludes_arg()).encode()
    ).hexdigest()[:16]
    return Path(cfg.services.cache_dir) / "spark-jars" / f"{key}.txt"


def _resolved_jars(cfg: Config) -> list[str]:
    """The jar paths Ivy resolved for exactly this package set, if all are still there."""
    listing = _jar_list_file(cfg)
    if not listing.exists():
        return []
    jars = [line for line in listing.read_text().splitlines() if line]
    return jars if jars and all(Path(j).exists() for j in jars) else []


def _remember_jars(cfg: Config, spark: SparkSession) -> None:
    jars = spark.sparkContext.getConf().get("spark.jars", "")
    paths = [j.removeprefix("file://") for j in jars.split(",") if j]
    if paths and all(Path(p).exists() for p in paths):
        listing = _jar_list_file(cfg)
        listing.parent.mkdir(parents=True, exist_ok=True)
        tmp = listing.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(paths) + "\n")
        tmp.replace(listing)


def get_spark(cfg: Config, app_name: str | None = None, master: str | None = None) -> SparkSession:
    """Build (or return the running) session for `cfg`. Call once per process."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # before the JVM starts: it and its Python workers inherit the AWS_* keys
    export_credentials(cfg)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    given = _submitted_conf()
    builder = SparkSession.builder
    if master or "spark.master" not in given:
        builder = builder.master(master or cfg.spark.master)
    for key, value in spark_conf(cfg, app_name).items():
        if key not in given:
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if "spark.jars.packages" in spark_conf(cfg, app_name) and "spark.jars" not in given:
        _remember_jars(cfg, spark)
    return spark


def _submitted_conf() -> dict[str, str]:
    """Settings spark-submit already gave the JVM (empty when Python started the JVM itself).

    Under spark-submit the JVM starts Python and exposes its gateway; settings from the command
    line then win over conf files, as a spark-submit user expects.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf

    return dict(SparkConf().getAll())
