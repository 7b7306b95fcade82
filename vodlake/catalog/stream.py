"""The upload query: Kafka `uploads` -> foreachBatch -> Delta catalog + HLS/DASH on origin.

`process_batch` runs these steps, each a function that can be called (and tested) alone:
1. `parse_step`: parse the events; invalid ones are logged with their Kafka position, never
   dropped silently;
2. `merge_step`: MERGE them into `videos`, guarded by seq: a late or duplicated event never
   overwrites newer state; `read_state` + `split_work` then pick the work;
3. `delete_step`: videos of the batch that are `deleted` lose their files and rendition/segment
   rows;
4. `transcode_step`: videos that are `uploaded` (or still `transcoding` after a crash: a replayed
   batch redoes them) go `transcoding`, then on the executors: probe + validate one task per
   video (which also plans its units), encode one task per unit with
   `mapPartitions`, package one task per video; failures end as `failed` with their reason;
5. `outputs_step`: `renditions` and `segments` are replaced per video (a rerun leaves no
   duplicate rows);
6. `final_state_step`: `videos` goes `ready` (or `failed`), guarded by the seq that was
   transcoded (`final_rows` builds the rows);
7. `sync_search_hook`: the catalog's changes go to Elasticsearch.

Spark retries a failed task (`spark.task.maxFailures`; in local mode the master must say
`local[N,F]`, which `main` arranges), and the executor code turns the last allowed attempt's
failure into a `failed` video instead of failing the whole batch. The tables are written by
vodlake.catalog.writer.Catalog.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    LongType,
    StringType,
    StructField,
    StructType,
)

from vodlake.catalog import transcode as tc
from vodlake.catalog.writer import Catalog
from vodlake.config import Config
from vodlake.errors import VodlakeError, describe
from vodlake.lake import kafka_io
from vodlake.lake.streams import kafka_source, start_foreach_batch
from vodlake.lake.tables import Tables
from vodlake.search.sync import sync_search
from vodlake.transforms.catalog import (
    PROBE_FIELDS,
    explode_units,
    merge_source,
    parse_upload_events,
)

QUERY = "uploads"
Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"[{QUERY}] {msg}", file=sys.stderr, flush=True)


# --- retries ------------------------------------------------------------------------------
_LOCAL = re.compile(r"local\[\s*(\d+|\*)\s*(?:,\s*(\d+)\s*)?\]")


def with_local_retries(master: str, attempts: int) -> str:
    """`local[N]` -> `local[N,attempts]`: local mode retries a failed task only when the master
    says so (spark.task.maxFailures is ignored there). Other masters are returned unchanged."""
    if master.strip() == "local":
        return f"local[1,{attempts}]"
    m = _LOCAL.fullmatch(master.strip())
    if m and m.group(2) is None and attempts > 1:
        return f"local[{m.group(1)},{attempts}]"
    return master


def task_attempts(spark: SparkSession) -> int:
    """How many times Spark runs a task before giving up, for this session's master."""
    master = spark.sparkContext.master
    m = _LOCAL.fullmatch(master.strip())
    if m:
        return int(m.group(2) or 1)
    if master.startswith("local"):
        return 1
    return int(spark.sparkContext.getConf().get("spark.task.maxFailures", "4"))


# --- executor tasks -----------------------------------------------------------------------
def _task(fn: Callable[..., Iterator[dict[str, Any]]], spec: tc.TranscodeSpec) -> Callable:
    """A mapPartitions function: hands `fn` plain dicts, the attempt number and executor id."""

    def run(rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        attempt = ctx.attemptNumber() if ctx is not None else 0
        dicts = (r if isinstance(r, dict) else r.asDict(recursive=True) for r in rows)
        yield from fn(spec, dicts, attempt, tc.executor_identity())

    return run


def _one_per_task(spark: SparkSession, rows: list[dict[str, Any]], fn: Callable, spec, what: str):
    """Run `fn` over `rows`, one row per task (so a retry redoes one row only)."""
    sc = spark.sparkContext
    sc.setJobDescription(what)
    try:
        # n rows in n slices: parallelize puts exactly one row in each partition (no shuffle)
        rdd = sc.parallelize(rows, max(1, len(rows)))
        return rdd.mapPartitions(_task(fn, spec)).collect()
    finally:
        sc.setJobDescription(None)


_PROBED = StructType(
    [
        StructField("video_id", StringType(), False),
        StructField("seq", LongType(), False),
        StructField("source_uri", StringType(), False),
        StructField("probe", StringType(), False),
        StructField("rungs", StringType(), False),
        StructField("plan", StringType(), False),
    ]
)


@dataclass
class Outcome:
    """What happened to one video in one batch."""

    video_id: str
    seq: int
    status: str  # ready | failed
    reason: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    package: dict[str, Any] = field(default_factory=dict)
    units: list[dict[str, Any]] = field(default_factory=list)


class Phases(dict):
    """Seconds per named phase, for the batch log line and the benchmark."""

    def __init__(self) -> None:
        super().__init__()
        self._t = time.monotonic()

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self[name] = round(self.get(name, 0.0) + now - self._t, 2)
        self._t = now


def transcode_videos(
    spark: SparkSession,
    spec: tc.TranscodeSpec,
    todo: list[dict[str, Any]],
    log: Log = _stderr,
    phases: Phases | None = None,
) -> dict[str, Outcome]:
    """Probe, plan, encode and package `todo` ({video_id, seq, source_uri}) on the executors.

    No catalog writes here (the caller does them), so the benchmark times exactly this.
    """
    phases = phases if phases is not None else Phases()
    outcomes: dict[str, Outcome] = {}
    probed = _one_per_task(spark, todo, tc.probe_partition, spec, "vodlake: probe sources")
    phases.mark("probe")
    ok = []
    for row in probed:
        facts = {f: row.get(f) for f in PROBE_FIELDS}
        if row["ok"]:
            ok.append(row)
            outcomes[row["video_id"]] = Outcome(row["video_id"], row["seq"], "ready", facts=facts)
        else:
            outcomes[row["video_id"]] = Outcome(
                row["video_id"], row["seq"], "failed", row["reason"]
            )
    if not ok:
        return outcomes

    probed_df = spark.createDataFrame([{k: r[k] for k in _PROBED.names} for r in ok], _PROBED)
    units_df = explode_units(probed_df)
    # The plan is a few hundred bytes per unit: collected once (one narrow job, no shuffle)
    # and handed out one unit per partition. Longest first: tasks start in partition order,
    # so the short last chunks and the quick audio units fill the gaps at the end.
    units = sorted(
        (r.asDict() for r in units_df.collect()),
        key=lambda u: (u["kind"] == "audio", -u["duration_s"], u["video_id"], u["unit_idx"]),
    )
    phases.mark("plan")
    results = _one_per_task(spark, units, tc.encode_partition, spec, "vodlake: encode units")
    phases.mark("encode")
    log(f"encoded {len(results)} units of {len(ok)} video(s)")

    by_video: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_video.setdefault(r["video_id"], []).append(r)
    payload = []
    for row in ok:
        vid = row["video_id"]
        units_of = sorted(by_video.get(vid, []), key=lambda u: u["unit_idx"])
        outcomes[vid].units = units_of
        bad = [u for u in units_of if not u["ok"]]
        if bad:
            u = bad[0]
            name = "audio" if u["unit_idx"] == tc.AUDIO_UNIT else f"unit {u['unit_idx']}"
            outcomes[vid].status, outcomes[vid].reason = "failed", f"{name}: {u['reason']}"
            continue
        payload.append(
            {**{k: row[k] for k in ("video_id", "seq", "probe", "rungs")}, "units": units_of}
        )
    if not payload:
        return outcomes
    packaged = _one_per_task(spark, payload, tc.package_partition, spec, "vodlake: package videos")
    phases.mark("package")
    for p in packaged:
        out = outcomes[p["video_id"]]
        if p["ok"]:
            out.package = p
        else:
            out.status, out.reason = "failed", p["reason"]
    return outcomes


# --- the batch ------------------------------------------------------------------------------
@dataclass
class BatchReport:
    batch_id: int
    events: int = 0
    invalid: int = 0
    videos: int = 0
    transcoded: int = 0
    ready: int = 0
    failed: int = 0
    deleted: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def parse_step(batch: DataFrame, report: BatchReport, log: Log = _stderr) -> DataFrame:
    """Parse the Kafka rows into upload events, count them into `report` and log each invalid
    one with its Kafka position. Returns the events persisted: the caller unpersists them."""
    events = parse_upload_events(batch).persist()
    counts = events.agg(F.count("*").alias("n"), F.count("invalid_reason").alias("bad"))
    report.events, report.invalid = counts.first()
    if report.invalid:
        bad = events.where(F.col("invalid_reason").isNotNull())
        for r in bad.limit(20).collect():
            log(
                f"batch {report.batch_id}: invalid upload event at partition "
                f"{r.kafka_partition} offset {r.kafka_offset}: {r.invalid_reason}: "
                f"{str(r.raw_value)[:200]!r}"
            )
    return events


def merge_step(catalog: Catalog, events: DataFrame) -> list[str]:
    """MERGE the valid events into `videos` (guarded by seq); the ids of the videos touched."""
    source = merge_source(events).persist()
    try:
        ids = [r.video_id for r in source.select("video_id").collect()]
        if ids:
            catalog.merge_events(source)
        return ids
    finally:
        source.unpersist()


def read_state(catalog: Catalog, ids: list[str]) -> list[dict[str, Any]]:
    """The current (video_id, seq, status, source_uri, language) of `ids` after the merge."""
    rows = (
        catalog.read("videos")
        .where(F.col("video_id").isin(ids))
        .select("video_id", "seq", "status", "source_uri", "language")
        .collect()
    )
    return [r.asDict() for r in rows]


def split_work(state: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(ids to delete, videos to transcode). `transcoding` is redone: a batch replayed after a
    crash finds its videos there."""
    deleted = [r["video_id"] for r in state if r["status"] == "deleted"]
    todo = [
        {k: r.get(k) for k in ("video_id", "seq", "source_uri", "language")}
        for r in state
        if r["status"] in ("uploaded", "transcoding")
    ]
    return deleted, todo


def delete_step(catalog: Catalog, spec: tc.TranscodeSpec, deleted: list[str]) -> None:
    """Remove the origin files and the rendition/segment rows of deleted videos."""
    for vid in deleted:
        tc.delete_video(spec, vid)
    catalog.replace_outputs(deleted, None)


def transcode_step(
    spark: SparkSession,
    catalog: Catalog,
    spec: tc.TranscodeSpec,
    todo: list[dict[str, Any]],
    phases: Phases,
    log: Log = _stderr,
) -> dict[str, Outcome]:
    """Mark `todo` transcoding, then probe, encode and package them on the executors."""
    catalog.mark_transcoding(todo)
    phases.mark("status transcoding")
    return transcode_videos(spark, spec, todo, log, phases)


def outputs_step(
    spark: SparkSession, catalog: Catalog, todo: list[dict[str, Any]], outcomes: dict[str, Outcome]
) -> None:
    """Replace the rendition and segment rows of every transcoded video (none when failed)."""
    ready = [o for o in outcomes.values() if o.status == "ready"]
    packaged = None
    if ready:
        packaged = spark.createDataFrame(
            [(o.video_id, o.package["renditions"], o.package["segments"]) for o in ready],
            "video_id string, renditions string, segments string",
        )
    catalog.replace_outputs([t["video_id"] for t in todo], packaged)


FINAL_COLUMNS = ("status", "reason", *PROBE_FIELDS, "renditions", "hls_uri", "dash_uri")


def final_rows(outcomes: dict[str, Outcome]) -> list[dict[str, Any]]:
    """The `videos` row each outcome ends in: ready with its renditions and URIs, or failed
    with its reason (probe facts are kept either way when known)."""
    rows = []
    for o in outcomes.values():
        row: dict[str, Any] = {
            "video_id": o.video_id,
            "seq": o.seq,
            "status": o.status,
            "reason": o.reason,
        }
        row |= o.facts
        if o.status == "ready":
            row["renditions"] = json.loads(o.package["rendition_names"])
            row["hls_uri"] = o.package["hls_uri"]
            row["dash_uri"] = o.package["dash_uri"]
        rows.append(row)
    return rows


def final_state_step(
    catalog: Catalog,
    spec: tc.TranscodeSpec,
    todo: list[dict[str, Any]],
    outcomes: dict[str, Outcome],
    batch_id: int,
    log: Log = _stderr,
) -> None:
    """`videos` -> ready/failed (guarded by the transcoded seq), then drop the work files."""
    for o in outcomes.values():
        if o.status == "failed":
            log(f"batch {batch_id}: {o.video_id} failed: {o.reason}")
    catalog.set_state(final_rows(outcomes), FINAL_COLUMNS)
    for t in todo:
        tc.cleanup_work(spec, t["video_id"], t["seq"])


def sync_search_hook(spark: SparkSession, cfg: Config, log: Log = _stderr) -> None:
    """Sync the `videos` Change Data Feed to Elasticsearch after a batch changed the catalog.

    So a video is searchable seconds after it becomes ready. Search is downstream of the
    catalog: if Elasticsearch is down the transcode stream goes on, the saved sync version does
    not move, and the next batch (or `vodlake job search_sync`) catches up.
    """
    if not cfg.elasticsearch.sync_on_upload:
        return
    try:
        result = sync_search(spark, cfg)
        log(
            f"search sync: {result.mode} to version {result.to_version}, "
            f"{result.upserted} upserted, {result.deleted} deleted"
        )
    except VodlakeError as exc:
        log(f"search sync skipped: {exc.message} (it resumes on the next batch)")
    except Exception as exc:
        log(f"search sync skipped: {describe(exc)} (it resumes on the next batch)")


def process_batch(
    spark: SparkSession,
    cfg: Config,
    batch: DataFrame,
    batch_id: int,
    *,
    catalog: Catalog,
    spec: tc.TranscodeSpec,
    log: Log = _stderr,
) -> BatchReport:
    """The foreachBatch body: the steps above in order (see the module doc)."""
    t0 = time.monotonic()
    report = BatchReport(batch_id)
    phases = Phases()
    events = parse_step(batch, report, log)
    try:
        if report.events == 0:
            return report
        ids = merge_step(catalog, events)
        phases.mark("merge events")
    finally:
        events.unpersist()
    report.videos = len(ids)
    if not ids:
        return report

    deleted, todo = split_work(read_state(catalog, ids))
    if deleted:
        delete_step(catalog, spec, deleted)
        report.deleted = len(deleted)
    if todo:
        log(f"batch {batch_id}: transcoding {len(todo)} video(s)")
        outcomes = transcode_step(spark, catalog, spec, todo, phases, log)
        outputs_step(spark, catalog, todo, outcomes)
        phases.mark("write renditions+segments")
        final_state_step(catalog, spec, todo, outcomes, batch_id, log)
        phases.mark("status final")
        report.transcoded = len(todo)
        report.ready = sum(o.status == "ready" for o in outcomes.values())
        report.failed = len(outcomes) - report.ready
    sync_search_hook(spark, cfg, log)
    report.seconds = round(time.monotonic() - t0, 1)
    report.phases = dict(phases)
    log(
        f"batch {batch_id}: {report.events} event(s) ({report.invalid} invalid), "
        f"{report.videos} video(s): {report.ready} ready, {report.failed} failed, "
        f"{report.deleted} deleted in {report.seconds:.1f}s "
        f"({', '.join(f'{k} {v:.1f}s' for k, v in phases.items())})"
    )
    return report


def start(
    spark: SparkSession,
    cfg: Config,
    *,
    topic: str | None = None,
    checkpoint: str | None = None,
    once: bool | None = None,
    log: Log = _stderr,
    reports: list[BatchReport] | None = None,
) -> StreamingQuery:
    """Start the query. `reports`, when given, collects a BatchReport per micro-batch."""
    tables = Tables(cfg)
    topic = topic or cfg.kafka.topics.uploads
    checkpoint = checkpoint or tables.checkpoint(QUERY)
    catalog = Catalog(spark, cfg)
    spec = tc.TranscodeSpec.from_config(cfg, max_attempts=task_attempts(spark))
    kafka_io.ensure_topic(cfg, topic)

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        report = process_batch(spark, cfg, batch, batch_id, catalog=catalog, spec=spec, log=log)
        if reports is not None:
            reports.append(report)

    source = kafka_source(spark, cfg, topic)
    return start_foreach_batch(source, QUERY, checkpoint, write_batch, cfg, once)
