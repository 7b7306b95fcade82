"""Files next to the tables: prefill manifests on the origin, reports. Through Hadoop FileSystem.

Paths in the config are Hadoop URIs (file://, s3a://, abfss://...), so manifests and reports
are written through the JVM's FileSystem API, the same way Delta writes tables: a job that
writes to a local folder today writes to object storage on a cluster without a change.
A folder is replaced by writing a sibling and swapping it in, so a reader never sees half of
a night's manifests. On an object store (s3a://, gs://, abfs://...) a folder rename is a copy
and delete of every object, not atomic and slow, so there each file is written in place
instead (an object appears whole when its upload completes) and files not in the new set are
deleted afterwards: a reader sees each file either old or new, never half of one.
"""

from __future__ import annotations

import uuid
from typing import Any

from pyspark.sql import SparkSession


def _fs_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, path


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    """Create or overwrite the file at ``uri`` with ``data`` (parent folders are created)."""
    fs, path = _fs_path(spark, uri)
    out = fs.create(path, True)
    try:
        out.write(bytearray(data))
    finally:
        out.close()


def delete(spark: SparkSession, uri: str) -> None:
    """Delete a file or a folder and everything in it (nothing when it does not exist)."""
    fs, path = _fs_path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def _rename(spark: SparkSession, src_uri: str, dst_uri: str) -> None:
    fs, src = _fs_path(spark, src_uri)
    _, dst = _fs_path(spark, dst_uri)
    fs.mkdirs(dst.getParent())
    if not fs.rename(src, dst):
        raise OSError(f"could not move {src_uri} to {dst_uri}")


# Hadoop schemes whose folder rename copies every object (no atomic rename).
OBJECT_STORE_SCHEMES = frozenset({"s3a", "s3", "gs", "abfs", "abfss", "wasb", "wasbs", "oss"})


def _replace_in_place(spark: SparkSession, base: str, files: dict[str, bytes]) -> None:
    fs, base_path = _fs_path(spark, base)
    for name, data in files.items():
        write_bytes(spark, f"{base}/{name}", data)
    if not files:
        fs.mkdirs(base_path)
    if fs.exists(base_path):
        for status in fs.listStatus(base_path):
            if status.getPath().getName() not in files:
                fs.delete(status.getPath(), True)


def replace_folder(spark: SparkSession, uri: str, files: dict[str, bytes]) -> list[str]:
    """Make the folder ``uri`` hold exactly ``files`` (name -> content); returns their URIs.

    The new folder is written complete as a sibling first; only then is the previous folder
    moved aside, the new one moved in, and the previous one deleted. A failure while writing
    leaves the previous folder as it was (the sibling is removed); a failed swap moves the
    previous folder back. Between the two renames a reader finds no folder for an instant.
    """
    base = uri.rstrip("/")
    if base.split("://", 1)[0].lower() in OBJECT_STORE_SCHEMES:
        _replace_in_place(spark, base, files)
        return [f"{base}/{name}" for name in sorted(files)]
    token = uuid.uuid4().hex[:8]
    staging, previous = f"{base}.tmp-{token}", f"{base}.old-{token}"
    try:
        for name, data in files.items():
            write_bytes(spark, f"{staging}/{name}", data)
        if not files:
            fs, path = _fs_path(spark, staging)
            fs.mkdirs(path)
    except BaseException:
        delete(spark, staging)
        raise
    fs, base_path = _fs_path(spark, base)
    had_previous = bool(fs.exists(base_path))
    if had_previous:
        _rename(spark, base, previous)
    try:
        _rename(spark, staging, base)
    except BaseException:
        if had_previous:
            _rename(spark, previous, base)
        delete(spark, staging)
        raise
    if had_previous:
        delete(spark, previous)
    return [f"{base}/{name}" for name in sorted(files)]


def last_write_rows(spark: SparkSession, table_path: str) -> int:
    """Rows the latest commit of a Delta table wrote, from its log (no scan of the data)."""
    from delta.tables import DeltaTable

    last = DeltaTable.forPath(spark, table_path).history(1).first()
    metrics = last["operationMetrics"] or {}
    if "numOutputRows" not in metrics:
        raise RuntimeError(f"the last commit of {table_path} reports no numOutputRows")
    return int(metrics["numOutputRows"])
