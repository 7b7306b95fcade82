"""Gold popularity on hand-made requests: counts, popularity, decayed trend, joined forecast.

Two days, two edges, three files; half-life 1 day, so yesterday weighs 0.5 and today 1 and the
normaliser is 1.5. Every expected number below is written out from those weights. The forecast
itself is tests/spark/test_forecast.py's subject; here a hand-made one is joined.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from vodlake.schemas import GOLD_POPULARITY, SILVER_PLAYBACK
from vodlake.transforms.popularity import (
    chunk_requests,
    decay_weight,
    edge_attributes,
    invalid_chunk_events,
    object_id,
    popularity,
)

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
OLD = date(2026, 10, 30)  # outside a 2-day lookback: must not count


def _event(day, edge, session, video, chunk, size, *, region="r1", isp="i1", kind="chunk"):
    when = datetime(day.year, day.month, day.day, 12, 0, tzinfo=timezone.utc)
    return {
        "event_id": f"{edge}-{session}-{video}-{chunk}-{day}-{size}",
        "session_id": session,
        "user_id": "u",
        "device": "tv",
        "client_ip": None,
        "region": region,
        "isp": isp,
        "video_id": video,
        "rendition": "r" if chunk is not None else None,
        "chunk_idx": chunk,
        "bytes": size,
        "edge_id": edge,
        "cache_status": "unknown",
        "startup_ms": None,
        "rebuffer_ms": None,
        "event_type": kind,
        "event_time": when,
        "event_date": day,
        "kafka_partition": None,
        "kafka_offset": None,
    }


EVENTS = [
    # day 1 (weight 0.5)
    _event(D1, "e1", "s1", "v1", 0, 100),
    _event(D1, "e1", "s2", "v1", 0, 100),
    _event(D1, "e2", "s3", "v1", 1, 50, region="r2", isp="i2"),
    # day 2 (weight 1): s4 fetches v1/r/0 twice (one session, two requests)
    _event(D2, "e1", "s4", "v1", 0, 100),
    _event(D2, "e1", "s4", "v1", 0, 100),
    _event(D2, "e1", "s5", "v2", 0, 40),
    _event(D2, "e2", "s6", "v1", 0, 100, region="r2", isp="i2"),
    # e2 also serves one client of another region: its attributes stay r2/i2 (majority)
    _event(D2, "e2", "s7", "v9", 0, 10, region="r1", isp="i1"),
    # not requests: a start event, and a day outside the lookback window
    _event(D2, "e1", "s4", "v1", None, 0, kind="start"),
    _event(OLD, "e1", "s0", "v1", 0, 100),
]


@pytest.fixture(scope="module")
def silver(spark):
    return spark.createDataFrame(
        [tuple(e[f.name] for f in SILVER_PLAYBACK.fields) for e in EVENTS], SILVER_PLAYBACK
    )


def test_chunk_requests_keeps_only_chunk_events(silver) -> None:
    requests = chunk_requests(silver)
    assert requests.count() == 9
    row = requests.where(F.col("session_id") == "s5").first()
    assert row["object_id"] == "v2/r/0"
    assert row["time"] == datetime(2026, 11, 2, 12, tzinfo=timezone.utc).timestamp()


def test_invalid_chunk_events_are_reported_with_a_reason(spark) -> None:
    bad = [
        _event(D2, None, "x1", "v1", 0, 10),
        _event(D2, "e1", "x2", "v1", 0, 0),
        _event(D2, "e1", "x3", "v1", 0, None),
        _event(D2, "e1", "x4", "v1", 0, 10),  # fine
    ]
    df = spark.createDataFrame(
        [tuple(e[f.name] for f in SILVER_PLAYBACK.fields) for e in bad], SILVER_PLAYBACK
    )
    reasons = {r["session_id"]: r["reason"] for r in invalid_chunk_events(df).collect()}
    assert reasons == {
        "x1": "edge_id is null",
        "x2": "bytes is not positive",
        "x3": "bytes is null",
    }
    # the same rows are exactly the ones chunk_requests leaves out
    assert [r["session_id"] for r in chunk_requests(df).collect()] == ["x4"]


def test_object_id_and_decay_weight(spark) -> None:
    row = (
        spark.range(1)
        .select(
            object_id(F.lit("v"), F.lit("720p"), F.lit(12)).alias("oid"),
            decay_weight(F.lit(0), 2.0).alias("w0"),
            decay_weight(F.lit(2), 2.0).alias("w2"),
            decay_weight(F.lit(3), 1.5).alias("w3"),
        )
        .first()
    )
    assert row["oid"] == "v/720p/12"
    assert (row["w0"], row["w2"], row["w3"]) == (1.0, 0.5, 0.25)


def test_edge_attributes_take_the_majority_region_and_isp(silver) -> None:
    got = {
        r["edge_id"]: (r["region"], r["isp"])
        for r in edge_attributes(chunk_requests(silver)).collect()
    }
    assert got == {"e1": ("r1", "i1"), "e2": ("r2", "i2")}


def _expected(spark, rows):
    return spark.createDataFrame(rows, GOLD_POPULARITY)


# Tomorrow's forecast (file_forecast's columns): v7 launches tomorrow, so it was never requested.
FORECAST = [
    ("e1", "v1", "r", 0, 100, 3.0),
    ("e2", "v1", "r", 1, 50, 0.5),
    ("e1", "v7", "r", 0, 70, 1.25),
]


@pytest.fixture(scope="module")
def forecast(spark):
    return spark.createDataFrame(
        FORECAST,
        "edge_id string, video_id string, rendition string, chunk_idx int, size long, "
        "forecast double",
    )


def test_popularity_trend_and_forecast_by_hand(spark, silver, forecast) -> None:
    got = popularity(
        chunk_requests(silver), D2, half_life_days=1.0, lookback_days=2, forecast=forecast
    )
    W = 1.5  # weights of the two days with data: 0.5 + 1
    # decayed bytes per edge x file: e1 v1/r/0 = .5*200 + 200; e1 v2/r/0 = 40;
    # e2 v1/r/1 = .5*50; e2 v1/r/0 = 100; e2 v9/r/0 = 10
    e_o = {
        ("e1", "v1", 0): 300.0,
        ("e1", "v2", 0): 40.0,
        ("e2", "v1", 1): 25.0,
        ("e2", "v1", 0): 100.0,
        ("e2", "v9", 0): 10.0,
    }
    size = {("v1", 0): 100, ("v1", 1): 50, ("v2", 0): 40, ("v9", 0): 10, ("v7", 0): 70}
    today = {  # requests, bytes, sessions on D2
        ("e1", "v1", 0): (2, 200, 1),
        ("e1", "v2", 0): (1, 40, 1),
        ("e2", "v1", 0): (1, 100, 1),
        ("e2", "v9", 0): (1, 10, 1),
    }
    tomorrow = {(e, v, c): f for e, v, _, c, _, f in FORECAST}
    attrs = {"e1": ("r1", "i1"), "e2": ("r2", "i2")}
    rows = []
    # Rows: what an edge requested in the window, and what it is forecast to request tomorrow.
    for edge, video, chunk in sorted(set(e_o) | set(tomorrow)):
        n, b, s = today.get((edge, video, chunk), (0, 0, 0))
        file_bytes = size[(video, chunk)]
        rows.append(
            (
                D2,
                edge,
                *attrs[edge],
                video,
                "r",
                chunk,
                n,
                b,
                s,
                file_bytes,
                b / file_bytes,
                e_o.get((edge, video, chunk), 0.0) / (W * file_bytes),
                tomorrow.get((edge, video, chunk), 0.0),
            )
        )
    assertDataFrameEqual(got, _expected(spark, rows), rtol=1e-9)
    # spot-check one figure fully by hand: e1 reads v1/r/0 (300 / 1.5 / 100) = 2 times a day
    row = got.where((F.col("edge_id") == "e1") & (F.col("video_id") == "v1")).where(
        F.col("chunk_idx") == 0
    )
    assert row.first()["trend"] == pytest.approx(2.0)


def test_known_file_sizes_win_over_observed_ones(spark, silver, forecast) -> None:
    sizes = spark.createDataFrame(
        [("v1", "r", 0, 125)], "video_id string, rendition string, chunk_idx int, bytes long"
    )
    got = popularity(
        chunk_requests(silver),
        D2,
        half_life_days=1.0,
        lookback_days=2,
        forecast=forecast,
        file_sizes=sizes,
    )
    row = got.where("edge_id = 'e1' AND video_id = 'v1' AND chunk_idx = 0").first()
    assert row["file_bytes"] == 125
    assert row["popularity"] == pytest.approx(200 / 125)
    assert row["trend"] == pytest.approx(300 / 1.5 / 125)
    assert row["forecast"] == pytest.approx(3.0)
    # a file the edge never served and is not forecast to gets no row at all
    assert got.where("edge_id = 'e1' AND video_id = 'v9'").count() == 0


def test_a_rerun_gives_identical_rows(silver, forecast) -> None:
    args = {"half_life_days": 2.0, "lookback_days": 7, "forecast": forecast}
    first = popularity(chunk_requests(silver), D2, **args).collect()
    again = popularity(chunk_requests(silver).repartition(3), D2, **args).collect()
    assert sorted(first) == sorted(again)


def test_bad_parameters_are_refused(silver, forecast) -> None:
    with pytest.raises(ValueError, match="lookback_days"):
        popularity(chunk_requests(silver), D2, half_life_days=1, lookback_days=0, forecast=forecast)
