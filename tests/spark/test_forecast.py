"""Tomorrow's forecast in Spark (the nightly chain) against the pandas model (offline evaluator).

One hand-made week: three edges in two regions, two renditions, old titles, earlier releases
(one of them recent), two titles launching tomorrow and one launching later that leaked a few
preview requests. The nightly chain on that lake must forecast the pandas model's numbers
(one run checks the Spark transforms, the job's materialised plan and the knobs it reads), fill
the launching titles before launch, and change nothing when rerun.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from vodlake import schemas
from vodlake.placement import model
from vodlake.placement.params import ForecastParams

D0 = date(2026, 11, 1)
AS_OF = D0 + timedelta(days=3)  # train days 0..3, forecast day 4
TARGET = 4
PARAMS = ForecastParams(
    half_life_days=1.0,
    lookback_days=4,
    edge_prior_requests=40.0,
    region_prior_requests=80.0,
    chunk_prior=3.0,
    mix_prior=5.0,
    release_age_days=2,
)
REGIONS = {"e1": "A", "e2": "A", "e3": "B"}
RENDITIONS = ("360p", "720p")
CHUNKS = 6
# video_id: (language, genre, release day or None)
TITLES = {
    "old1": ("en", "drama", None),
    "old2": ("fr", "comedy", None),
    "old3": ("en", "comedy", None),
    "rel1": ("en", "drama", 0),
    "rel2": ("en", "drama", 1),
    "rel3": ("fr", "comedy", 2),  # released two days before the forecast day: aged
    "new1": ("en", "drama", TARGET),  # like rel1/rel2 (language and genre)
    "new2": ("de", "drama", TARGET),  # no other German title: similar by genre
    "late": ("en", "drama", TARGET + 2),  # a few preview requests, no forecast yet
}


def _size(rendition: str, chunk: int) -> int:
    return 1000 + 100 * chunk + (600 if rendition == "720p" else 0)


def _requests() -> pd.DataFrame:
    """Seeded sessions: regional tastes, a burst on each release day, drop-off, resumes."""
    rng = np.random.default_rng(14)
    taste = {
        "A": {"old1": 5.0, "old2": 1.0, "old3": 2.0, "rel1": 3.0, "rel2": 3.0, "rel3": 1.0},
        "B": {"old1": 1.0, "old2": 5.0, "old3": 2.0, "rel1": 1.0, "rel2": 1.0, "rel3": 3.0},
    }
    hi = {"e1": 0.7, "e2": 0.4, "e3": 0.2}  # each edge's share of 720p
    rows = []
    for day in range(TARGET):
        for edge, sessions in (("e1", 30), ("e2", 14), ("e3", 22)):
            names, weights = [], []
            for video, w in taste[REGIONS[edge]].items():
                release = TITLES[video][2]
                if release is None or release <= day:
                    names.append(video)
                    weights.append(w * (4.0 if release == day else 1.0))
            if day >= 2:  # previews of the title launching later
                names.append("late")
                weights.append(0.3)
            p = np.asarray(weights) / sum(weights)
            for s in range(sessions):
                video = names[rng.choice(len(names), p=p)]
                start = 2 if rng.random() < 0.2 else 0
                length = 1 + rng.geometric(0.35)
                rendition = "720p" if rng.random() < hi[edge] else "360p"
                for chunk in range(start, min(CHUNKS, start + length)):
                    rows.append(
                        (day, edge, f"{edge}-{day}-{s}", video, rendition, chunk, 3600.0 * s)
                    )
    frame = pd.DataFrame(
        rows, columns=["day", "edge_id", "session_id", "video_id", "rendition", "chunk_idx", "t"]
    )
    frame["size"] = [
        _size(r, c) for r, c in zip(frame["rendition"], frame["chunk_idx"], strict=True)
    ]
    frame["object_id"] = (
        frame["video_id"] + "/" + frame["rendition"] + "/" + frame["chunk_idx"].astype(str)
    )
    return frame


def _catalog() -> model.Catalog:
    files = [
        (f"{v}/{r}/{c}", v, r, c, _size(r, c))
        for v in TITLES
        for r in RENDITIONS
        for c in range(CHUNKS)
    ]
    titles = pd.DataFrame(
        {
            "video_id": list(TITLES),
            "release_day": [np.nan if t[2] is None else float(t[2]) for t in TITLES.values()],
            "genre": [t[1] for t in TITLES.values()],
            "language": [t[0] for t in TITLES.values()],
        }
    )
    return model.Catalog(
        pd.DataFrame(files, columns=["object_id", "video_id", "rendition", "chunk_idx", "size"]),
        titles,
    )


REQUESTS = _requests()


def _write_lake(spark, cfg) -> None:
    """Silver with the fixture's requests, and the catalog: videos (release_at) and segments."""
    from vodlake.lake.tables import Tables

    tables = Tables(cfg)
    silver = []
    for r in REQUESTS.itertuples():
        day = D0 + timedelta(days=int(r.day))
        when = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(
            seconds=float(r.t) + int(r.chunk_idx)
        )
        ev = dict.fromkeys(schemas.SILVER_PLAYBACK.fieldNames())
        ev.update(
            event_id=f"{r.session_id}-{r.chunk_idx}",
            session_id=r.session_id,
            user_id="u",
            region=REGIONS[r.edge_id],
            isp=r.edge_id,
            video_id=r.video_id,
            rendition=r.rendition,
            chunk_idx=int(r.chunk_idx),
            bytes=int(r.size),
            edge_id=r.edge_id,
            event_type="chunk",
            event_time=when,
            event_date=day,
        )
        silver.append(tuple(ev[f] for f in schemas.SILVER_PLAYBACK.fieldNames()))
    tables.ensure(spark, "silver_playback")
    spark.createDataFrame(silver, schemas.SILVER_PLAYBACK).write.format("delta").mode(
        "append"
    ).save(tables.path("silver_playback"))
    now = datetime(2026, 10, 1, tzinfo=timezone.utc)
    videos = []
    for v, (lang, genre, release) in TITLES.items():
        row = dict.fromkeys(schemas.VIDEOS.fieldNames())
        row.update(
            video_id=v,
            seq=1,
            status="ready",
            title=v,
            genres=[genre],
            language=lang,
            release_at=None
            if release is None
            else datetime(D0.year, D0.month, D0.day, 20, tzinfo=timezone.utc)
            + timedelta(days=release),
            updated_at=now,
        )
        videos.append(tuple(row[f] for f in schemas.VIDEOS.fieldNames()))
    segments = [
        (v, r, c, 6.0 * c, 6.0, _size(r, c), "0" * 64, f"file:///x/{v}/{r}/{c}.ts", 0, "0", 0)
        for v in TITLES
        for r in RENDITIONS
        for c in range(CHUNKS)
    ]
    for name, rows, schema in (
        ("videos", videos, schemas.VIDEOS),
        ("segments", segments, schemas.SEGMENTS),
    ):
        tables.ensure(spark, name)
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(
            tables.path(name)
        )


# Slow: two nightly runs (popularity + placement), about 100 s on a loaded 2-core machine.
@pytest.mark.slow
def test_nightly_forecasts_like_pandas_fills_a_release_before_launch_and_reruns_the_same(
    spark, tmp_path: Path
) -> None:
    from vodlake.config import load_config
    from vodlake.lake.tables import Tables
    from vodlake.placement import nightly

    # Each edge holds about a fifth of the catalog's bytes: the ranking decides.
    edges = [{"id": e, "region": r, "isp": e, "capacity_bytes": 25_000} for e, r in REGIONS.items()]
    cfg = load_config(
        "test",
        overrides={
            "paths": {"home": str(tmp_path / "home"), "origin": str(tmp_path / "origin")},
            "topology": {"regions": ["A", "B"], "isps": list(REGIONS), "edges": edges},
            "placement": {
                "trend_lookback_days": PARAMS.lookback_days,
                "forecast_half_life_days": PARAMS.half_life_days,
                "edge_prior_requests": PARAMS.edge_prior_requests,
                "region_prior_requests": PARAMS.region_prior_requests,
                "chunk_prior": PARAMS.chunk_prior,
                "mix_prior": PARAMS.mix_prior,
                "release_age_days": PARAMS.release_age_days,
            },
        },
    )
    _write_lake(spark, cfg)
    log: list[str] = []

    def placed() -> list[tuple]:
        rows = Tables(cfg).read(spark, "placement").where(F.col("date") == F.lit(AS_OF)).collect()
        return sorted(tuple(r) for r in rows)

    def manifests() -> dict[str, bytes]:
        folder = tmp_path / "origin" / "manifests" / str(AS_OF)
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}

    nightly.run(spark, cfg, AS_OF, steps=("popularity", "placement"), log=log.append)
    first, docs = placed(), manifests()
    # The job's forecast (transforms/forecast.py, materialised part by part) is the pandas
    # model's, number for number, with the knobs and catalog the job read from config and lake.
    want = model.forecast(
        REQUESTS[["day", "edge_id", "object_id", "size"]],
        TARGET,
        regions=REGIONS,
        catalog=_catalog(),
        params=PARAMS,
    )
    assert len(want) > 100  # the fixture exercises every part, not an empty corner
    videos = {o.split("/")[0] for o in want["object_id"]}
    assert {"new1", "new2", "rel3"} <= videos and "late" not in videos
    gold = Tables(cfg).read(spark, "gold_popularity").where(F.col("forecast") > 0)
    got = gold.select(
        "edge_id",
        F.concat_ws("/", "video_id", "rendition", F.col("chunk_idx").cast("string")).alias(
            "object_id"
        ),
        "forecast",
    )
    expected = spark.createDataFrame(
        want[["edge_id", "object_id", "forecast"]],
        "edge_id string, object_id string, forecast double",
    )
    assertDataFrameEqual(got, expected, rtol=1e-9)
    for edge in REGIONS:
        doc = json.loads(docs[f"{edge}.json"])
        assert doc["fill_for"] == str(AS_OF + timedelta(days=1))
        added = {e["object_id"].split("/")[0] for e in doc["add"]}
        # launching tomorrow, never requested: filled the night before, from earlier releases
        assert "new1" in added, (edge, sorted(added))
        assert "late" not in added  # its launch is further out
        assert doc["held_bytes"] <= 25_000
    gold = Tables(cfg).read(spark, "gold_popularity").where(F.col("video_id") == "new1")
    row = gold.agg(F.sum("requests").alias("n"), F.min("forecast").alias("f")).first()
    assert row["n"] == 0 and row["f"] > 0

    nightly.run(spark, cfg, AS_OF, steps=("popularity", "placement"), log=log.append)
    assert placed() == first
    assert manifests() == docs
