"""Pure catalog transforms on tiny DataFrames: parsing upload events, the seq-guarded videos
MERGE (applied here with plain joins over the very same SQL expressions), the unit plan
exploded into rows exactly as planned, and catalog rows from package results."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake import schemas
from vodlake.catalog.uploads import Metadata, make_event, parse_release_at
from vodlake.transforms.catalog import (
    AUDIO_UNIT,
    NEVER_UPLOADED,
    VIDEOS_MERGE_ON,
    VIDEOS_UPDATE_WHEN,
    explode_units,
    merge_source,
    parse_upload_events,
    rendition_rows,
    segment_rows,
    videos_insert_values,
    videos_update_set,
)

T0 = "2026-11-26T10:00:00Z"


def kafka_rows(spark: SparkSession, values: list[object]) -> DataFrame:
    """Kafka-shaped rows (value, partition, offset) holding JSON (or raw text) values."""
    rows = [
        (v if isinstance(v, str) else json.dumps(v)).encode() for v in values
    ]  # bytes, as Kafka delivers them
    return spark.createDataFrame(
        [(b, 0, i) for i, b in enumerate(rows)], "value binary, partition int, offset long"
    )


def up(vid: str, seq: int, title: str = "T", uri: str = "file:///u/x.mp4", **kw) -> dict:
    return make_event(
        vid, "uploaded", seq, source_uri=uri, metadata=Metadata(title=title, **kw), event_time=T0
    )


def meta(vid: str, seq: int, **kw) -> dict:
    return make_event(vid, "metadata_updated", seq, metadata=Metadata(**kw), event_time=T0)


def gone(vid: str, seq: int) -> dict:
    return make_event(vid, "deleted", seq, event_time=T0)


# --- parsing ----------------------------------------------------------------------------------
def test_parse_keeps_every_event_and_says_why_a_bad_one_is_bad(spark: SparkSession) -> None:
    good = up("v1", 5, tags=("a", "b"))
    values = [
        good,
        "this is not json",
        {**good, "video_id": "../etc"},
        {**good, "video_id": "v1\n"},
        {**good, "type": "renamed"},
        {**good, "source_uri": None},
        {**good, "seq": -1},
        {**good, "seq": "seven"},
        {k: v for k, v in good.items() if k != "event_time"},
    ]
    parsed = parse_upload_events(kafka_rows(spark, values)).orderBy("kafka_offset").collect()
    assert len(parsed) == len(values)  # nothing dropped
    assert [r.invalid_reason for r in parsed] == [
        None,
        "not an upload event (no event_id)",
        "bad video_id",
        "bad video_id",
        "unknown event type",
        "uploaded without source_uri",
        "negative seq",
        "missing or non-numeric seq",
        "missing or bad event_time",
    ]
    first = parsed[0]
    assert (first.video_id, first.seq, first.type, first.tags) == ("v1", 5, "uploaded", ["a", "b"])
    assert first.event_time == datetime(2026, 11, 26, 10, 0)  # session time zone is UTC
    assert first.raw_value.startswith("{")


def test_event_fields_are_the_schema(spark: SparkSession) -> None:
    """uploads.make_event and schemas.UPLOAD_EVENT move together."""
    assert list(up("v1", 1)) == [f.name for f in schemas.UPLOAD_EVENT.fields]


# --- merge source -----------------------------------------------------------------------------
def sources(spark: SparkSession, events: list[dict]) -> dict[str, dict]:
    df = merge_source(parse_upload_events(kafka_rows(spark, events)))
    return {r.video_id: r.asDict() for r in df.collect()}


def test_merge_source_takes_latest_of_each_kind(spark: SparkSession) -> None:
    s = sources(
        spark,
        [
            up("a", 1, "first", uri="file:///u/1.mp4"),
            meta("a", 3, title="renamed"),
            up("a", 2, "second", uri="file:///u/2.mp4", language="en"),
            up("b", 5),
            gone("b", 6),
            gone("c", 3),
            up("c", 4),
            meta("d", 9, description="only metadata"),
            up("e", 1),
            {"garbage": True},
        ],
    )
    assert set(s) == {"a", "b", "c", "d", "e"}
    a = s["a"]
    assert (a["seq"], a["upload_seq"], a["source_uri"], a["meta_seq"]) == (
        3,
        2,
        "file:///u/2.mp4",
        3,
    )
    assert (a["title"], a["language"]) == ("renamed", None)  # latest metadata event wins
    assert (s["b"]["upload_seq"], s["b"]["delete_seq"]) == (5, 6)
    assert (s["c"]["upload_seq"], s["c"]["delete_seq"]) == (4, 3)
    assert s["d"]["upload_seq"] is None and s["d"]["meta_seq"] == 9


# --- the videos MERGE, applied with joins -----------------------------------------------------
def apply_merge(spark: SparkSession, target: list[dict], events: list[dict]) -> dict[str, dict]:
    """What Delta's MERGE does with these expressions: update matched rows where
    VIDEOS_UPDATE_WHEN holds, insert unmatched source rows, keep the rest."""
    t = spark.createDataFrame(target, schemas.VIDEOS) if target else None
    if t is None:
        t = spark.createDataFrame([], schemas.VIDEOS)
    s = merge_source(parse_upload_events(kafka_rows(spark, events)))
    joined = t.alias("t").join(s.alias("s"), F.expr(VIDEOS_MERGE_ON), "full_outer")
    update, insert = videos_update_set(), videos_insert_values()
    matched = F.col("t.video_id").isNotNull() & F.col("s.video_id").isNotNull()
    only_s = F.col("t.video_id").isNull()
    cols = []
    for f in schemas.VIDEOS.fields:
        c = F.col(f"t.{f.name}")
        if f.name in update:
            c = F.when(matched & F.expr(VIDEOS_UPDATE_WHEN), F.expr(update[f.name])).otherwise(c)
        ins = F.expr(insert[f.name]) if f.name in insert else F.lit(None)
        cols.append(F.when(only_s, ins).otherwise(c).alias(f.name))
    return {r.video_id: r.asDict() for r in joined.select(*cols).collect()}


def ready(vid: str, seq: int, **kw) -> dict:
    row = {f.name: None for f in schemas.VIDEOS.fields}
    now = datetime(2026, 11, 26)  # naive: what collect() gives back (UTC machine)
    row |= {
        "video_id": vid,
        "seq": seq,
        "status": "ready",
        "title": "Current",
        "language": "en",
        "source_uri": "file:///u/cur.mp4",
        "duration_s": 6.0,
        "width": 320,
        "renditions": ["180p", "audio"],
        "hls_uri": "file:///o/videos/x/master.m3u8",
        "created_at": now,
        "updated_at": now,
    }
    return row | kw


def test_late_and_duplicate_events_change_nothing(spark: SparkSession) -> None:
    cases = {
        "late-upload": [up("late-upload", 3, "stale", uri="file:///u/old.mp4")],
        "late-meta": [meta("late-meta", 9, title="stale")],
        "dup-delete": [gone("dup-delete", 10)],  # the table's own seq again: a duplicate
        "dup-upload": [up("dup-upload", 10, "dup")],
    }
    current = {vid: ready(vid, 10) for vid in cases}
    after = apply_merge(spark, list(current.values()), [e for es in cases.values() for e in es])
    for vid in cases:
        assert after[vid] == current[vid], vid


def test_newer_metadata_keeps_status_and_outputs(spark: SparkSession) -> None:
    after = apply_merge(spark, [ready("a", 10)], [meta("a", 11, title="Better", tags=("x",))])["a"]
    assert (after["seq"], after["status"], after["title"], after["tags"]) == (
        11,
        "ready",
        "Better",
        ["x"],
    )
    assert after["language"] == "en"  # not given: unchanged
    assert after["hls_uri"] and after["duration_s"] == 6.0


def test_release_at_comes_from_the_upload_and_metadata_events(spark: SparkSession) -> None:
    """The release schedule the nightly forecast reads: set by an upload or a metadata
    event, kept when a later event leaves it empty, null for rows from before it existed."""
    launch = datetime(2026, 12, 1, 20, tzinfo=timezone.utc)
    later = datetime(2026, 12, 8, tzinfo=timezone.utc)
    after = apply_merge(
        spark,
        [ready("old", 10), ready("moved", 10, release_at=datetime(2026, 12, 1))],
        [
            up("new", 1, release_at=launch),
            meta("old", 11, title="Renamed"),
            meta("moved", 11, release_at=later),
        ],
    )
    naive = {k: v["release_at"] for k, v in after.items()}  # collect() gives naive UTC
    assert naive == {
        "new": datetime(2026, 12, 1, 20),
        "old": None,
        "moved": datetime(2026, 12, 8),
    }
    assert parse_release_at("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_release_at("2026-12-01T21:00+01:00") == launch
    assert up("x", 1, release_at=launch)["release_at"] == "2026-12-01T20:00:00.000000Z"


def test_a_new_upload_resets_the_video_for_transcoding(spark: SparkSession) -> None:
    after = apply_merge(
        spark, [ready("a", 10, reason="x")], [up("a", 12, "V2", uri="file:///u/v2.mp4")]
    )["a"]
    assert (after["status"], after["seq"], after["source_uri"]) == (
        "uploaded",
        12,
        "file:///u/v2.mp4",
    )
    assert after["reason"] is None and after["duration_s"] is None
    assert after["renditions"] is None and after["hls_uri"] is None
    assert after["title"] == "V2"


def test_an_old_upload_with_new_metadata_does_not_retranscode(spark: SparkSession) -> None:
    """Upload (seq 5) older than the table (10) in a batch with newer metadata (11)."""
    after = apply_merge(spark, [ready("a", 10)], [up("a", 5), meta("a", 11, title="New")])["a"]
    assert (after["status"], after["source_uri"], after["title"]) == (
        "ready",
        "file:///u/cur.mp4",
        "New",
    )


def test_delete_and_reupload(spark: SparkSession) -> None:
    deleted = apply_merge(spark, [ready("a", 10)], [gone("a", 11)])["a"]
    assert deleted["status"] == "deleted" and deleted["hls_uri"] is None
    back = apply_merge(spark, [deleted], [gone("a", 12), up("a", 13, "Back")])["a"]
    assert back["status"] == "uploaded" and back["title"] == "Back"


def test_inserts(spark: SparkSession) -> None:
    rows = apply_merge(
        spark, [], [up("n", 1, "New"), meta("m", 4, title="Ghost"), up("d", 1), gone("d", 2)]
    )
    assert rows["n"]["status"] == "uploaded" and rows["n"]["reason"] is None
    assert rows["n"]["created_at"] == datetime(2026, 11, 26, 10, 0)
    assert (rows["m"]["status"], rows["m"]["reason"]) == ("failed", NEVER_UPLOADED)
    assert rows["d"]["status"] == "deleted"


# --- units --------------------------------------------------------------------------------
PROBED = "video_id string, seq long, source_uri string, probe string, rungs string, plan string"


def test_explode_units_gives_one_row_per_planned_unit_exactly(spark: SparkSession) -> None:
    """The probe task's plan (transcode.plan_units over media.plan.plan_chunks) comes out one
    row per unit, field for field: the stream never plans units a second time."""
    from vodlake.catalog.transcode import plan_units
    from vodlake.media.encode import EncodeSettings
    from vodlake.media.probe import ProbeInfo

    def info(duration: float, fps: float, audio: bool) -> ProbeInfo:
        return ProbeInfo("x", duration, 320, 180, fps, "25/1", "h264", audio, None, 1, "mp4", None)

    plans = {
        "a": plan_units(info(9.0, 25.0, True), EncodeSettings(segment_seconds=2), 2),
        "b": plan_units(info(3.5035, 30000 / 1001, False), EncodeSettings(segment_seconds=4), 1),
    }
    probed = spark.createDataFrame(
        [(vid, 1, "file:///u/v.mp4", "{}", "[]", json.dumps(plan)) for vid, plan in plans.items()],
        PROBED,
    )
    got: dict[str, list[dict]] = {}
    for r in explode_units(probed).collect():
        row = r.asDict()
        assert (row["seq"], row["source_uri"], row["rungs"]) == (1, "file:///u/v.mp4", "[]")
        got.setdefault(row.pop("video_id"), []).append(
            {f.name: row[f.name] for f in schemas.ENCODE_UNIT.fields}
        )
    assert {vid: sorted(u, key=lambda x: x["unit_idx"]) for vid, u in got.items()} == {
        vid: sorted(plan, key=lambda x: x["unit_idx"]) for vid, plan in plans.items()
    }
    assert [u["kind"] for u in plans["a"]] == ["video"] * 3 + ["audio"]
    assert plans["a"][-1]["unit_idx"] == AUDIO_UNIT and all(
        u["kind"] == "video" for u in plans["b"]
    )


def test_audio_unit_constant_matches_the_executor_code() -> None:
    from vodlake.catalog import transcode

    assert transcode.AUDIO_UNIT == AUDIO_UNIT


# --- catalog rows -----------------------------------------------------------------------------
def test_rendition_and_segment_rows(spark: SparkSession) -> None:
    rend = [
        {"video_id": "v", "rendition": "180p", "kind": "video", "codec": "h264",
         "codecs": "avc1.64000d", "width": 320, "height": 180, "bitrate_kbps": 300,
         "bandwidth_bps": 310000, "segments": 2, "duration_s": 4.0, "bytes": 1000,
         "playlist_uri": "file:///o/v/180p/playlist.m3u8", "init_uri": "file:///o/v/180p/init.m4s"},
        {"video_id": "v", "rendition": "audio", "kind": "audio", "codec": "aac",
         "codecs": "mp4a.40.2", "width": None, "height": None, "bitrate_kbps": 128,
         "bandwidth_bps": 130000, "segments": 2, "duration_s": 4.0, "bytes": 500,
         "playlist_uri": "file:///o/v/audio/playlist.m3u8", "init_uri": None},
    ]  # fmt: skip
    segs = [
        {"video_id": "v", "rendition": "180p", "chunk_idx": i, "start_s": 2.0 * i,
         "duration_s": 2.0, "bytes": 400 + i, "sha256": f"{i:064x}",
         "uri": f"file:///o/v/180p/seg-{i + 1:05d}.m4s", "unit_idx": i, "executor_id": "1",
         "attempt": 0}
        for i in range(2)
    ]  # fmt: skip
    packaged = spark.createDataFrame(
        [("v", json.dumps(rend), json.dumps(segs))],
        "video_id string, renditions string, segments string",
    )
    now = F.lit(datetime(2026, 11, 26, 12, 0)).cast("timestamp")
    r = rendition_rows(packaged, now)
    assert r.schema.names == schemas.RENDITIONS.names
    assert [f.dataType for f in r.schema] == [f.dataType for f in schemas.RENDITIONS]
    got = {x.rendition: x for x in r.collect()}
    assert got["180p"].width == 320 and got["audio"].width is None
    assert got["audio"].updated_at == datetime(2026, 11, 26, 12, 0)
    # (pyspark.testing cannot be imported next to pandas 3: its package imports pandas-on-Spark)
    s = segment_rows(packaged)
    assert s.schema.names == schemas.SEGMENTS.names
    assert [f.dataType for f in s.schema] == [f.dataType for f in schemas.SEGMENTS]
    got_segs = sorted((x.asDict() for x in s.collect()), key=lambda d: d["chunk_idx"])
    assert got_segs == segs
