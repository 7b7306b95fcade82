"""Demo stage: upload -> Kafka -> Spark chunked transcode -> HLS/DASH on origin -> catalog.

Makes three short sample videos with motion and sound (ffmpeg test sources), uploads them as
`vodlake upload` does, runs the upload stream (availableNow) until they are ready, and reports
the renditions and segments of each. The samples are deterministic, so running the demo again
uploads the same videos again: they are re-transcoded to the same segments (idempotent).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from vodlake.catalog import stream as upload_stream
from vodlake.catalog import uploads
from vodlake.lake.tables import Tables
from vodlake.media.samples import DEMO_SAMPLES, make_from_spec

MAX_ROUNDS = 3


def _states(ctx: Any, ids: list[str]) -> dict[str, Any]:
    tables = Tables(ctx.cfg)
    if not tables.exists(ctx.spark, "videos"):
        return {}
    rows = tables.read(ctx.spark, "videos").where(F.col("video_id").isin(ids)).collect()
    return {r.video_id: r for r in rows}


def stage(ctx: Any) -> list[tuple[str, object]]:
    """Upload the samples, transcode them on Spark, return one summary row per video."""
    cfg = ctx.cfg
    folder = Path(tempfile.mkdtemp(prefix="vodlake-demo-samples-"))
    try:
        sent = []
        for spec in DEMO_SAMPLES:
            path = make_from_spec(spec, folder)
            meta = uploads.Metadata(title=spec.title, tags=("demo", spec.source), language="en")
            result = uploads.upload(cfg, path, meta)
            ctx.log(f"uploaded {spec.title!r} ({spec.seconds:g} s) as {result.video_id}")
            sent.append((spec, result))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ids = [r.video_id for _, r in sent]
    wanted = {r.video_id: r.seq for _, r in sent}

    def done(states: dict[str, Any]) -> bool:
        return all(
            vid in states
            and states[vid].seq >= seq
            and states[vid].status in ("ready", "failed", "deleted")
            for vid, seq in wanted.items()
        )

    states: dict[str, Any] = {}
    for round_ in range(1, MAX_ROUNDS + 1):
        ctx.log(f"transcode stream, round {round_} (availableNow)")
        query = upload_stream.start(ctx.spark, cfg, once=True, log=ctx.log)
        query.awaitTermination()  # raises the query's exception if it failed
        states = _states(ctx, ids)
        if done(states):
            break
    tables = Tables(cfg)
    segs = (
        tables.read(ctx.spark, "segments")
        .where(F.col("video_id").isin(ids))
        .groupBy("video_id", "rendition")
        .agg(F.count("*").alias("n"), F.sum("bytes").alias("bytes"))
        .collect()
    )
    per_video: dict[str, list[Any]] = {}
    for r in segs:
        per_video.setdefault(r.video_id, []).append(r)

    rows: list[tuple[str, object]] = []
    for spec, result in sent:
        state = states.get(result.video_id)
        label = f"{spec.title} ({result.video_id})"
        if state is None or state.seq < result.seq:
            rows.append((label, "not processed yet"))
            continue
        if state.status != "ready":
            rows.append((label, f"{state.status}: {state.reason}"))
            continue
        parts = sorted(per_video.get(result.video_id, []), key=lambda r: r.rendition)
        detail = ", ".join(f"{r.rendition} {r.n} seg {r.bytes / 1e3:.0f} kB" for r in parts)
        rows.append((label, f"ready {state.duration_s:.1f}s: {detail}"))
        rows.append(("  HLS master", state.hls_uri))
        rows.append(("  DASH manifest", state.dash_uri))
    ready = sum(1 for _, r in sent if getattr(states.get(r.video_id), "status", "") == "ready")
    rows.insert(0, ("videos uploaded / ready", f"{len(sent)} / {ready}"))
    return rows
