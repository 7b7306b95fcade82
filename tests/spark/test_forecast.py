"""Tomorrow's forecast in Spark (the nightly chain) against the pandas model (offline evaluator).

One hand-made week: three edges in two regions, two renditions, old titles, earlier releases
(one of them recent), two titles launching tomorrow and one launching later that leaked a few
preview requests. The Spark transforms must give the pandas model's numbers.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from vodlake.placement import model
from vodlake.placement.params import ForecastParams
from vodlake.transforms.forecast import file_forecast

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


def _spark_inputs(spark):
    req = spark.createDataFrame(
        [
            (
                D0 + timedelta(days=int(r.day)),
                r.edge_id,
                r.video_id,
                r.rendition,
                int(r.chunk_idx),
                int(r.size),
            )
            for r in REQUESTS.itertuples()
        ],
        "event_date date, edge_id string, video_id string, rendition string, chunk_idx int, "
        "bytes long",
    )
    cat = _catalog()
    files = spark.createDataFrame(
        cat.files.drop(columns="object_id"),
        "video_id string, rendition string, chunk_idx int, size long",
    )
    titles = spark.createDataFrame(
        [
            (v, None if t[2] is None else D0 + timedelta(days=t[2]), t[1], t[0])
            for v, t in TITLES.items()
        ],
        "video_id string, release_date date, genre string, language string",
    )
    regions = spark.createDataFrame(list(REGIONS.items()), "edge_id string, region string")
    return req, files, titles, regions


# Slow: about 80 s here, most of it whole-stage codegen compiling the forecast's deep plan.
@pytest.mark.slow
def test_spark_forecast_equals_the_pandas_model(spark) -> None:
    req, files, titles, regions = _spark_inputs(spark)
    got = file_forecast(req, AS_OF, regions=regions, params=PARAMS, files=files, titles=titles)
    got = got.select(
        "edge_id",
        F.concat_ws("/", "video_id", "rendition", F.col("chunk_idx").cast("string")).alias(
            "object_id"
        ),
        "size",
        "forecast",
    )
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
    expected = spark.createDataFrame(
        want.astype({"size": "int64"}),
        "edge_id string, object_id string, size long, forecast double",
    )
    assertDataFrameEqual(got, expected, rtol=1e-9)
