"""The upload query: Kafka `uploads` -> foreachBatch -> Delta catalog + HLS/DASH on origin.

Per micro-batch:
1. parse the events (invalid ones are reported with their Kafka position, never dropped
   silently) and MERGE them into `videos`, guarded by seq: a late or duplicated event never
   overwrites newer state;
2. videos of the batch that are `deleted` lose their files and rendition/segment rows;
3. videos that are `uploaded` (or still `transcoding` after a crash: a replayed batch redoes
   them) go `transcoding`, then on the executors: probe + validate one task per video, plan
   units (transforms.catalog.plan_units), encode one task per unit with `mapPartitions`,
   package one task per video; failures end as `failed` with their reason;
4. `renditions` and `segments` are replaced per video (a rerun leaves no duplicate rows), then
   `videos` goes `ready` (or `failed`), guarded by the seq that was transcoded.

Spark retries a failed task (`spark.task.maxFailures`; in local mode the master must say
`local[N,F]`, which `main` arranges), and the executor code turns the last allowed attempt's
failure into a `failed` video instead of failing the whole batch.
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
    ArrayType,
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from vodlake import schemas
from vodlake.catalog import transcode as tc
from vodlake.config import Config
from vodlake.lake.streams import kafka_source, start_foreach_batch
from vodlake.lake.tables import Tables
from vodlake.transforms.catalog import (
    PROBE_FIELDS,
    VIDEOS_MERGE_ON,
    VIDEOS_UPDATE_WHEN,
    merge_source,
    parse_upload_events,
    plan_units,
    rendition_rows,
    segment_rows,
    videos_insert_values,
    videos_update_set,
)

QUERY = "uploads"
CATALOG_TABLES = ("videos", "renditions", "segments")
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
        StructField("duration_s", DoubleType(), False),
        StructField("fps", DoubleType(), False),
        StructField("has_audio", BooleanType(), False),
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
    units_df = plan_units(probed_df, spec.settings.segment_seconds, spec.segments_per_chunk)
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


# --- the catalog --------------------------------------------------------------------------
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


def _in_list(ids: Iterable[str]) -> str:
    """A SQL IN list of video ids (ids match VIDEO_ID_PATTERN, so no quoting issues)."""
    return ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(set(ids)))


_FINAL_FIELDS = (
    ("video_id", StringType()),
    ("seq", LongType()),
    ("status", StringType()),
    ("reason", StringType()),
    *((f, schemas.VIDEOS[f].dataType) for f in PROBE_FIELDS),
    ("renditions", ArrayType(StringType())),
    ("hls_uri", StringType()),
    ("dash_uri", StringType()),
)


class Catalog:
    """The three catalog tables of one configuration (created when missing)."""

    def __init__(self, spark: SparkSession, cfg: Config):
        tables = Tables(cfg)
        self.spark = spark
        self.paths = {name: tables.ensure(spark, name) for name in CATALOG_TABLES}

    def read(self, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.paths[name])

    def merge_events(self, source: DataFrame) -> None:
        from delta.tables import DeltaTable

        (
            DeltaTable.forPath(self.spark, self.paths["videos"])
            .alias("t")
            .merge(source.alias("s"), VIDEOS_MERGE_ON)
            .whenMatchedUpdate(condition=VIDEOS_UPDATE_WHEN, set=videos_update_set())
            .whenNotMatchedInsert(values=videos_insert_values())
            .execute()
        )

    def set_state(self, rows: list[dict[str, Any]], columns: Iterable[str]) -> None:
        """Update `columns` of the videos in `rows`, only where the table still has that seq
        (a newer event arriving meanwhile is never overwritten)."""
        from delta.tables import DeltaTable

        cols = ["video_id", "seq", *[c for c in columns if c not in ("video_id", "seq")]]
        fields = dict(_FINAL_FIELDS)
        schema = StructType([StructField(c, fields[c], True) for c in cols])
        df = self.spark.createDataFrame([{c: r.get(c) for c in cols} for r in rows], schema)
        updates = {c: f"s.{c}" for c in cols[2:]} | {"updated_at": "current_timestamp()"}
        (
            DeltaTable.forPath(self.spark, self.paths["videos"])
            .alias("t")
            .merge(df.alias("s"), "t.video_id = s.video_id AND t.seq = s.seq")
            .whenMatchedUpdate(set=updates)
            .execute()
        )

    def mark_transcoding(self, todo: list[dict[str, Any]]) -> None:
        """uploaded -> transcoding for these (video_id, seq): one UPDATE, no join."""
        from delta.tables import DeltaTable

        match = " OR ".join(
            f"(video_id = {_in_list([t['video_id']])} AND seq = {int(t['seq'])})" for t in todo
        )
        DeltaTable.forPath(self.spark, self.paths["videos"]).update(
            condition=f"({match}) AND status IN ('uploaded', 'transcoding')",
            set={"status": "'transcoding'", "reason": "NULL", "updated_at": "current_timestamp()"},
        )

    def replace_outputs(self, video_ids: list[str], packaged: DataFrame | None) -> None:
        """Replace the rendition and segment rows of `video_ids` (none for failed/deleted)."""
        if not video_ids:
            return
        where = f"video_id IN ({_in_list(video_ids)})"
        for name, build, schema in (
            ("renditions", rendition_rows, schemas.RENDITIONS),
            ("segments", segment_rows, schemas.SEGMENTS),
        ):
            rows = (
                build(packaged) if packaged is not None else self.spark.createDataFrame([], schema)
            )
            (
                rows.write.format("delta")
                .mode("overwrite")
                .option("replaceWhere", where)
                .save(self.paths[name])
            )


def sync_search_hook(spark: SparkSession, cfg: Config, log: Log = _stderr) -> None:
    """Sync the `videos` Change Data Feed to Elasticsearch after a batch changed the catalog.

    So a video is searchable seconds after it becomes ready. Search is downstream of the
    catalog: if Elasticsearch is down the transcode stream goes on, the saved sync version does
    not move, and the next batch (or `vodlake job search_sync`) catches up.
    """
    if not cfg.elasticsearch.sync_on_upload:
        return
    from vodlake.errors import VodlakeError, describe
    from vodlake.search.sync import sync_search

    try:
        result = sync_search(spark, cfg)
        log(
            f"search sync: {result.get('mode')} to version {result.get('to_version')}, "
            f"{result.get('upserted', 0)} upserted, {result.get('deleted', 0)} deleted"
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
    """The foreachBatch body (see the module doc)."""
    t0 = time.monotonic()
    report = BatchReport(batch_id)
    phases = Phases()
    events = parse_upload_events(batch).persist()
    try:
        counts = events.agg(F.count("*").alias("n"), F.count("invalid_reason").alias("bad"))
        report.events, report.invalid = counts.first()
        if report.events == 0:
            return report
        if report.invalid:
            bad = events.where(F.col("invalid_reason").isNotNull())
            for r in bad.limit(20).collect():
                log(
                    f"batch {batch_id}: invalid upload event at partition {r.kafka_partition} "
                    f"offset {r.kafka_offset}: {r.invalid_reason}: {str(r.raw_value)[:200]!r}"
                )
        source = merge_source(events).persist()
        try:
            ids = [r.video_id for r in source.select("video_id").collect()]
            if ids:
                catalog.merge_events(source)
            phases.mark("merge events")
        finally:
            source.unpersist()
    finally:
        events.unpersist()
    report.videos = len(ids)
    if not ids:
        return report

    state = (
        catalog.read("videos")
        .where(F.col("video_id").isin(ids))
        .select("video_id", "seq", "status", "source_uri")
        .collect()
    )
    deleted = [r.video_id for r in state if r.status == "deleted"]
    todo = [
        {"video_id": r.video_id, "seq": r.seq, "source_uri": r.source_uri}
        for r in state
        if r.status in ("uploaded", "transcoding")
    ]
    if deleted:
        for vid in deleted:
            tc.delete_video(spec, vid)
        catalog.replace_outputs(deleted, None)
        report.deleted = len(deleted)
    if todo:
        catalog.mark_transcoding(todo)
        phases.mark("status transcoding")
        log(f"batch {batch_id}: transcoding {len(todo)} video(s)")
        outcomes = transcode_videos(spark, spec, todo, log, phases)
        ready = [o for o in outcomes.values() if o.status == "ready"]
        packaged = None
        if ready:
            packaged = spark.createDataFrame(
                [(o.video_id, o.package["renditions"], o.package["segments"]) for o in ready],
                "video_id string, renditions string, segments string",
            )
        catalog.replace_outputs([t["video_id"] for t in todo], packaged)
        phases.mark("write renditions+segments")
        final = []
        for o in outcomes.values():
            row = {"video_id": o.video_id, "seq": o.seq, "status": o.status, "reason": o.reason}
            row |= o.facts
            if o.status == "ready":
                row["renditions"] = json.loads(o.package["rendition_names"])
                row["hls_uri"] = o.package["hls_uri"]
                row["dash_uri"] = o.package["dash_uri"]
            final.append(row)
            if o.status == "failed":
                log(f"batch {batch_id}: {o.video_id} failed: {o.reason}")
        cols = ["status", "reason", *PROBE_FIELDS, "renditions", "hls_uri", "dash_uri"]
        catalog.set_state(final, cols)
        phases.mark("status final")
        for t in todo:
            tc.cleanup_work(spec, t["video_id"], t["seq"])
        report.transcoded = len(todo)
        report.ready = len(ready)
        report.failed = len(outcomes) - len(ready)
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
    from vodlake.lake import kafka_io

    kafka_io.ensure_topic(cfg, topic)

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        report = process_batch(spark, cfg, batch, batch_id, catalog=catalog, spec=spec, log=log)
        if reports is not None:
            reports.append(report)

    source = kafka_source(spark, cfg, topic)
    return start_foreach_batch(source, QUERY, checkpoint, write_batch, cfg, once)
