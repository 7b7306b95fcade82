"""Tomorrow's demand per edge and file, in Spark: the nightly chain's forecast.

The same model as `vodlake.placement.model` (pandas, offline evaluator), written with built-in
Spark functions so the nightly chain runs it on the lake; tests/spark/test_forecast.py checks
that the two give the same numbers on one fixture. A file's expected requests tomorrow are

    (demand for its title at the edge) x (share of the title's requests at that chunk)
                                       x (share of the edge's requests in that rendition)

* title demand: the edge's decayed daily average where it has plenty of history, shrunk
  toward its region's (scaled to the edge's traffic) where it has little; the region's in turn
  shrunk toward all edges';
* chunk curve: the title's own drop-off (early abandonment, resumes), shrunk toward all titles';
* rendition mix: the edge's own per chunk bucket (players start low and climb), shrunk toward
  all edges';
* release schedule: a title launching tomorrow has no history, so it gets the release-day
  demand that earlier releases (same language and genre, else language, else genre, when at
  least two match) had at each edge, and is filled before launch; a title released in the last
  ``release_age_days`` follows the decay earlier releases showed at the same age; a title
  launching later gets nothing yet.

Weighted sums are DECIMAL and counts are integers, so a rerun adds the same numbers whatever
Spark's partitioning: the same ranking, the same manifests. Pure: DataFrames in and out.

Plan size: every part reads the training window, and the files to forecast depend on the title
demand, so one unbroken plan repeats the same subtrees hundreds of times (3,195 lines, 622
exchanges on the test fixture; minutes of planning and code generation before a row moves).
The window is therefore aggregated once (`training_counts`: requests per day, edge and file),
and `file_forecast` hands each small intermediate to the caller's ``materialise`` (a job passes
``DataFrame.localCheckpoint``) before the next part joins it back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from vodlake.placement.params import ALL_REGION, CHUNK_BUCKETS, ForecastParams

KEYS: tuple[str, ...] = ("video_id", "rendition", "chunk_idx")
# Columns of `training_counts`, the input of every part below.
TRAIN_COLUMNS: tuple[str, ...] = ("age", "edge_id", *KEYS, "n", "size")
# Columns of `file_forecast`.
FORECAST_COLUMNS: tuple[str, ...] = ("edge_id", *KEYS, "size", "forecast")
_EXACT = DecimalType(38, 12)


def chunk_bucket(chunk_idx: Column) -> Column:
    """Index of the CHUNK_BUCKETS range holding ``chunk_idx`` (model.bucket_of)."""
    out = F.lit(0)
    for i, start in enumerate(CHUNK_BUCKETS[1:], start=1):
        out = F.when(chunk_idx >= F.lit(start), F.lit(i)).otherwise(out)
    return out


def training_counts(requests: DataFrame, as_of: date, params: ForecastParams) -> DataFrame:
    """Requests of the lookback window ending ``as_of``, counted once (TRAIN_COLUMNS).

    Per ``age`` (days before as_of), edge and file: ``n`` requests and ``size``, the largest
    request seen. Every part of the model needs only these counts, and there are far fewer of
    them than requests (a file is requested many times a day at an edge).
    """
    start = as_of - timedelta(days=params.lookback_days - 1)
    return (
        requests.where(F.col("event_date").between(F.lit(start), F.lit(as_of)))
        .groupBy(F.datediff(F.lit(as_of), F.col("event_date")).alias("age"), "edge_id", *KEYS)
        .agg(F.count(F.lit(1)).alias("n"), F.max("bytes").cast("long").alias("size"))
    )


def _n() -> Column:
    """Requests in a group of `training_counts` rows."""
    return F.sum("n")


def _weighted(count: Column, age: Column, half_life: float) -> Column:
    """``count`` x 0.5 ** (age / half_life), as an exact DECIMAL addend."""
    return (count * F.pow(F.lit(0.5), age.cast("double") / F.lit(float(half_life)))).cast(_EXACT)


def title_demand(
    train: DataFrame, regions: DataFrame, params: ForecastParams, key: str = "video_id"
) -> DataFrame:
    """Expected requests of each title at each edge tomorrow: edge_id, ``key``, demand.

    ``regions``: edge_id, region (an edge missing there is a region of its own, ALL_REGION).
    """
    daily = train.groupBy("age", "edge_id", key).agg(_n().alias("n"))
    norm = (
        train.select("age")
        .distinct()
        .agg(F.sum(_weighted(F.lit(1), F.col("age"), params.half_life_days)).alias("norm"))
    )
    frame = (
        daily.join(F.broadcast(regions.select("edge_id", "region")), "edge_id", "left")
        .withColumn("region", F.coalesce("region", F.lit(ALL_REGION)))
        .withColumn("w", _weighted(F.col("n"), F.col("age"), params.half_life_days))
    )
    edge_title = frame.groupBy("edge_id", key).agg(F.sum("w").alias("x_e"))
    region_title = frame.groupBy("region", key).agg(F.sum("w").alias("x_r"))
    overall = frame.groupBy(key).agg(F.sum("w").alias("x_g"))
    edges = frame.groupBy("edge_id", "region").agg(F.sum("n").alias("n_e"), F.sum("w").alias("t_e"))
    region = frame.groupBy("region").agg(F.sum("n").alias("n_r"), F.sum("w").alias("t_r"))
    total = frame.agg(F.sum("w").alias("t_all"))

    def share(num: str, den: str) -> Column:
        return F.col(num).cast("double") / F.col(den).cast("double")

    def trust(n: str, prior: float) -> Column:
        return F.col(n).cast("double") / (F.col(n).cast("double") + F.lit(float(prior)))

    edges = (
        edges.join(region, "region")
        .crossJoin(total)
        .crossJoin(norm)
        .select(
            "edge_id",
            "region",
            "norm",
            trust("n_e", params.edge_prior_requests).alias("lam_e"),
            share("t_e", "t_r").alias("share_e"),
            trust("n_r", params.region_prior_requests).alias("lam_r"),
            share("t_r", "t_all").alias("share_r"),
        )
    )

    def avg(col: str) -> Column:
        return F.coalesce(F.col(col).cast("double") / F.col("norm").cast("double"), F.lit(0.0))

    region_hat = F.col("lam_r") * avg("x_r") + (1 - F.col("lam_r")) * F.col("share_r") * avg("x_g")
    demand = F.col("lam_e") * avg("x_e") + (1 - F.col("lam_e")) * F.col("share_e") * region_hat
    return (
        F.broadcast(edges)
        .crossJoin(overall)
        .join(region_title, ["region", key], "left")
        .join(edge_title, ["edge_id", key], "left")
        .select("edge_id", key, demand.alias("demand"))
        .where(F.col("demand") > 0)
    )


def chunk_curve(train: DataFrame, files: DataFrame, params: ForecastParams) -> DataFrame:
    """Share of a title's requests at each chunk (video_id, chunk_idx, p).

    The title's own counts plus ``chunk_prior`` pseudo-requests spread like all titles' counts
    over the title's chunks 0 .. its last chunk in ``files``.
    """
    pooled = train.groupBy("chunk_idx").agg(_n().alias("pooled"))
    own = train.groupBy("video_id", "chunk_idx").agg(_n().alias("m"))
    rows = (
        files.groupBy("video_id")
        .agg(F.max("chunk_idx").alias("last"))
        .select("video_id", F.explode(F.sequence(F.lit(0), F.col("last"))).alias("chunk_idx"))
        .join(F.broadcast(pooled), "chunk_idx", "left")
        .join(own, ["video_id", "chunk_idx"], "left")
        .fillna(0, subset=["pooled", "m"])
    )
    title = rows.groupBy("video_id").agg(F.sum("pooled").alias("q_sum"), F.sum("m").alias("m_sum"))
    q = F.coalesce(F.col("pooled") / F.when(F.col("q_sum") > 0, F.col("q_sum")), F.lit(0.0))
    alpha = F.lit(float(params.chunk_prior))
    return rows.join(title, "video_id").select(
        "video_id",
        "chunk_idx",
        ((F.col("m") + alpha * q) / (F.col("m_sum") + alpha)).alias("p"),
    )


def rendition_mix(train: DataFrame, renditions: DataFrame, params: ForecastParams) -> DataFrame:
    """Per edge and chunk bucket, the share of requests in each rendition (shrunk to all edges).

    ``renditions``: one column ``rendition``, the renditions the files come in.
    """
    frame = train.withColumn("bucket", chunk_bucket(F.col("chunk_idx")))
    pooled = frame.groupBy("bucket", "rendition").agg(_n().alias("gc"))
    pooled = pooled.join(pooled.groupBy("bucket").agg(F.sum("gc").alias("gn")), "bucket").select(
        "bucket", "rendition", (F.col("gc") / F.col("gn")).alias("g")
    )
    own = frame.groupBy("edge_id", "bucket", "rendition").agg(_n().alias("c"))
    buckets = frame.sparkSession.range(len(CHUNK_BUCKETS)).select(
        F.col("id").cast("int").alias("bucket")
    )
    grid = (
        frame.select("edge_id")
        .distinct()
        .crossJoin(F.broadcast(buckets))
        .crossJoin(F.broadcast(renditions.select("rendition").distinct()))
        .join(own, ["edge_id", "bucket", "rendition"], "left")
        .join(F.broadcast(pooled), ["bucket", "rendition"], "left")
        .fillna(0, subset=["c"])
        .fillna(0.0, subset=["g"])
    )
    n = grid.groupBy("edge_id", "bucket").agg(F.sum("c").alias("n"))
    beta = F.lit(float(params.mix_prior))
    return grid.join(n, ["edge_id", "bucket"]).select(
        "edge_id",
        "bucket",
        "rendition",
        ((F.col("c") + beta * F.col("g")) / (F.col("n") + beta)).alias("mix"),
    )


def release_demand(
    train: DataFrame, titles: DataFrame, launching: DataFrame, as_of: date
) -> DataFrame:
    """Release-day demand at each edge of the titles in ``launching``: edge_id, video_id, demand.

    The mean, over earlier releases seen on their release day in the window, of their
    release-day requests at the edge (zero where none came): over those sharing language and
    genre, else language, else genre (when at least two do), else over all of them.
    """
    released = titles.where(F.col("release_date").isNotNull()).select(
        "video_id", "release_date", "genre", "language"
    )
    on_day = train.join(F.broadcast(released), "video_id").where(
        F.col("age") == F.datediff(F.lit(as_of), F.col("release_date"))
    )
    per = on_day.groupBy("edge_id", "video_id").agg(_n().alias("n"))
    past = released.join(on_day.select("video_id").distinct(), "video_id").select(
        F.col("video_id").alias("past_id"),
        F.col("genre").alias("p_genre"),
        F.col("language").alias("p_language"),
    )
    lang = F.col("language").isNotNull() & (F.col("p_language") == F.col("language"))
    genre = F.col("genre").isNotNull() & (F.col("p_genre") == F.col("genre"))
    pairs = launching.select("video_id", "genre", "language").crossJoin(F.broadcast(past))
    pairs = pairs.select(
        "video_id",
        "past_id",
        F.coalesce(lang & genre, F.lit(False)).alias("lg"),
        F.coalesce(lang, F.lit(False)).alias("l"),
        F.coalesce(genre, F.lit(False)).alias("g"),
    )
    counts = pairs.groupBy("video_id").agg(
        *[F.sum(F.col(c).cast("int")).alias(f"n_{c}") for c in ("lg", "l", "g")]
    )
    level = (
        F.when(F.col("n_lg") >= 2, F.lit("lg"))
        .when(F.col("n_l") >= 2, F.lit("l"))
        .when(F.col("n_g") >= 2, F.lit("g"))
        .otherwise(F.lit("all"))
    )
    chosen = (
        pairs.join(counts.select("video_id", level.alias("level")), "video_id")
        .where(
            (F.col("level") == "all")
            | ((F.col("level") == "lg") & F.col("lg"))
            | ((F.col("level") == "l") & F.col("l"))
            | ((F.col("level") == "g") & F.col("g"))
        )
        .select("video_id", "past_id")
    )
    similar = chosen.groupBy("video_id").agg(F.count(F.lit(1)).alias("k"))
    sums = (
        chosen.join(per.withColumnRenamed("video_id", "past_id"), "past_id")
        .groupBy("edge_id", "video_id")
        .agg(F.sum("n").alias("s"))
    )
    return (
        train.select("edge_id")
        .distinct()
        .crossJoin(similar)
        .join(sums, ["edge_id", "video_id"], "left")
        .select(
            "edge_id",
            "video_id",
            (F.coalesce(F.col("s"), F.lit(0)).cast("double") / F.col("k")).alias("demand"),
        )
    )


def aged_demand(
    demand: DataFrame, train: DataFrame, titles: DataFrame, as_of: date, params: ForecastParams
) -> DataFrame:
    """Recent releases: yesterday's requests at the edge x the age decay earlier releases showed.

    The decay from age a to a+1 is requests at a+1 over requests at a, summed over the
    releases seen at both ages; edges that did not request the title yesterday keep ``demand``.
    """
    released = titles.where(F.col("release_date").isNotNull()).select("video_id", "release_date")
    by_age = (
        train.join(F.broadcast(released), "video_id")
        .select(
            "video_id",
            (F.datediff(F.lit(as_of), F.col("release_date")) - F.col("age")).alias("since"),
            "n",
        )
        .groupBy("video_id", "since")
        .agg(_n().alias("a"))
    )
    nxt = by_age.select("video_id", (F.col("since") - 1).alias("since"), F.col("a").alias("b"))
    ratios = (
        by_age.where(F.col("since").between(0, params.release_age_days))
        .join(nxt, ["video_id", "since"])
        .groupBy("since")
        .agg((F.sum("b") / F.greatest(F.lit(1), F.sum("a"))).alias("factor"))
    )
    first = as_of + timedelta(days=1 - params.release_age_days)
    recent = released.where(F.col("release_date").between(F.lit(first), F.lit(as_of))).select(
        "video_id", F.datediff(F.lit(as_of), F.col("release_date")).alias("since")
    )
    aged = (
        train.where(F.col("age") == 0)
        .groupBy("edge_id", "video_id")
        .agg(_n().alias("y"))
        .join(recent.join(ratios, "since"), "video_id")
        .select("edge_id", "video_id", (F.col("y") * F.col("factor")).alias("aged"))
    )
    return demand.join(aged, ["edge_id", "video_id"], "left").select(
        "edge_id", "video_id", F.coalesce("aged", "demand").alias("demand")
    )


def _as_is(df: DataFrame) -> DataFrame:
    return df


def file_forecast(
    requests: DataFrame,
    as_of: date,
    *,
    regions: DataFrame,
    params: ForecastParams,
    files: DataFrame | None = None,
    titles: DataFrame | None = None,
    materialise: Callable[[DataFrame], DataFrame] = _as_is,
) -> DataFrame:
    """Expected requests per edge and file on the day after ``as_of`` (FORECAST_COLUMNS).

    * ``requests``: `transforms.popularity.chunk_requests` rows (event_date, edge_id, video_id,
      rendition, chunk_idx, bytes); the lookback window ending ``as_of`` is used;
    * ``regions``: edge_id, region;
    * ``files``: every file the service has (video_id, rendition, chunk_idx, size), e.g. the
      `segments` table; titles it lacks (and every title without it) use the files requested
      in the window, at their largest request;
    * ``titles``: the release schedule (video_id, release_date, genre, language); without it no
      title is treated as a release;
    * ``materialise``: applied to each intermediate the later parts read again (the training
      counts, the title demand, the files, the chunk curves, the rendition mixes); a job passes
      ``DataFrame.localCheckpoint`` so each part plans against a small table instead of
      re-planning everything before it. The numbers do not depend on it.
    """
    train = materialise(training_counts(requests, as_of, params))
    demand = title_demand(train, regions, params)
    if titles is not None:
        tomorrow = F.lit(as_of + timedelta(days=1))
        launching = titles.where(F.col("release_date") == tomorrow)
        unreleased = titles.where(F.col("release_date") >= tomorrow).select("video_id")
        demand = demand.join(F.broadcast(unreleased), "video_id", "left_anti")
        demand = aged_demand(demand, train, titles, as_of, params)
        demand = demand.unionByName(release_demand(train, titles, launching, as_of))
    demand = materialise(demand)
    seen = train.groupBy(*KEYS).agg(F.max("size").alias("size"))
    if files is not None:
        # Titles the catalog does not list (e.g. played from another catalog) keep the files
        # they were requested in: a forecast never loses a title for a missing catalog row.
        files = files.select(*KEYS, "size").unionByName(
            seen.join(files.select("video_id").distinct(), "video_id", "left_anti")
        )
    else:
        files = seen
    files = materialise(
        files.select(*KEYS, F.col("size").cast("long")).join(
            demand.select("video_id").distinct(), "video_id", "left_semi"
        )
    )
    curve = materialise(chunk_curve(train, files, params))
    mix = materialise(rendition_mix(train, files.select("rendition"), params))
    return (
        files.join(curve, ["video_id", "chunk_idx"])
        .withColumn("bucket", chunk_bucket(F.col("chunk_idx")))
        .join(demand, "video_id")
        .join(mix, ["edge_id", "bucket", "rendition"])
        .select(
            "edge_id",
            *KEYS,
            "size",
            (F.col("demand") * F.col("p") * F.col("mix")).alias("forecast"),
        )
        .where(F.col("forecast") > 0)
    )


__all__ = [
    "FORECAST_COLUMNS",
    "TRAIN_COLUMNS",
    "aged_demand",
    "chunk_bucket",
    "chunk_curve",
    "file_forecast",
    "release_demand",
    "rendition_mix",
    "title_demand",
    "training_counts",
]
