"""Writing to Elasticsearch through elasticsearch-hadoop, and its failures as one VodlakeError
that says where the sync stands (shared by the incremental sync and the reindex)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pyspark.sql import DataFrame, SparkSession

from vodlake.config import Config
from vodlake.errors import ServiceUnavailable, VodlakeError
from vodlake.search.index import video_write_options

_QUIET_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.TaskContextImpl",
    "org.apache.spark.util.Utils",
    "org.elasticsearch.hadoop",
    "org.apache.commons.httpclient",
)


@contextlib.contextmanager
def quiet_task_logs(spark: SparkSession) -> Iterator[None]:
    """Silence per-task stack traces while writing to Elasticsearch (local mode prints them on
    the driver's terminal); the failure still surfaces as one VodlakeError. VODLAKE_DEBUG=1
    keeps them."""
    if os.environ.get("VODLAKE_DEBUG"):
        yield
        return
    jvm = spark.sparkContext._jvm
    log4j = jvm.org.apache.logging.log4j
    configurator = log4j.core.config.Configurator
    before = {name: log4j.LogManager.getLogger(name).getLevel() for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        configurator.setLevel(name, log4j.Level.OFF)
    try:
        yield
    finally:
        for name, level in before.items():
            configurator.setLevel(name, level)


_UNREACHABLE_MARKERS = (
    "EsHadoopNoNodesLeftException",
    "Connection refused",
    "Connection error",
    "all nodes failed",
    "Cannot detect ES version",
    "NoRouteToHost",
)


def es_hadoop_failure(exc: BaseException) -> tuple[str, str] | None:
    """("unreachable" | "rejected", detail) when a Spark failure came from es-hadoop, else None."""
    text = str(exc)
    if "org.elasticsearch.hadoop" not in text and "EsHadoop" not in text:
        return None
    if any(marker in text for marker in _UNREACHABLE_MARKERS):
        return "unreachable", ""
    for line in text.splitlines():
        if "EsHadoopRemoteException:" in line:
            return "rejected", line.split("EsHadoopRemoteException:", 1)[1].strip()[:300]
    for line in text.splitlines():
        if "EsHadoop" in line:
            return "rejected", line.strip()[:300]
    return "rejected", text.strip().splitlines()[0][:300]


def write_documents(
    spark: SparkSession, cfg: Config, docs: DataFrame, target: str, operation: str = "upsert"
) -> None:
    """Write documents keyed by video_id through elasticsearch-hadoop (upsert by default; a
    full reindex into a fresh index uses `index`, which skips the per-document lookup)."""
    opts = video_write_options(cfg, operation=operation)
    with quiet_task_logs(spark):
        docs.write.format("es").options(**opts).mode("append").save(target)


def delete_documents(spark: SparkSession, cfg: Config, ids: DataFrame, target: str) -> None:
    """Delete documents by video_id through elasticsearch-hadoop (`es.write.operation=delete`;
    a missing document is not an error, so a replayed delete is harmless)."""
    opts = video_write_options(cfg, operation="delete")
    with quiet_task_logs(spark):
        ids.select("video_id").write.format("es").options(**opts).mode("append").save(target)


@contextlib.contextmanager
def sync_failure(
    cfg: Config, what: str, saved: int | None, again: str | None = None
) -> Iterator[None]:
    """Any Elasticsearch failure inside becomes one VodlakeError that says where the sync stands."""
    kept = (
        f"the saved version stays at {saved}" if saved is not None else "no version was saved yet"
    )
    if again is None:
        again = (
            f"run the sync again: it resumes from version {saved + 1}"
            if saved is not None
            else "run the sync again: it starts from a catalog snapshot"
        )
    try:
        yield
    except ServiceUnavailable:
        raise VodlakeError(
            f"{what} stopped: Elasticsearch at {cfg.elasticsearch.url} is unreachable; {kept}",
            hint=f"start Elasticsearch (`vodlake services up`), then {again}",
        ) from None
    except VodlakeError:
        raise
    except Exception as exc:
        failure = es_hadoop_failure(exc)
        if failure is None:
            raise
        kind, detail = failure
        if kind == "unreachable":
            raise VodlakeError(
                f"{what} stopped: Elasticsearch at {cfg.elasticsearch.url} is unreachable; {kept}",
                hint=f"start Elasticsearch (`vodlake services up`), then {again}",
            ) from None
        raise VodlakeError(
            f"{what} stopped: Elasticsearch rejected documents ({detail}); {kept}",
            hint="fix the cause, then `vodlake job search_reindex` rebuilds the index",
        ) from None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (Spark wraps long messages; drop JVM frames)."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith("at ") and ln != "JVM stacktrace:"]
    text = " ".join(kept)
    return f"{type(exc).__name__}: {text[:limit]}"
