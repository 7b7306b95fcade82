"""Edge placement: which files each edge should hold tomorrow, as add / keep / drop decisions.

A greedy knapsack per edge, ranked by density (forecast popularity = forecast hit bytes per
stored byte, times a weight for early chunks), done with window functions so it stays inside
Spark (a running sum of bytes in rank order) instead of a Python loop per edge:

1. Rank every candidate file by ``score = forecast * weight`` where early chunks
   (``chunk_idx < early_chunks``) get ``early_chunk_weight``: a miss on the first chunks delays
   startup for every viewer, and many sessions stop early, so their bytes count for more.
2. Files the edge holds now (yesterday's placement) rank with ``score * (1 + min_swap_gain)``:
   a new file displaces one only if it is denser by more than that margin, because every swap
   costs fill traffic and the forecast is noisy anyway.
3. Fill budget: walking down the ranking, new files are accepted while their running sum of
   bytes stays within ``fill_budget_bytes`` (what the edge can pull in its nightly window);
   files already on the edge cost no fill.
4. Capacity: among what step 3 accepted, the running sum of bytes in rank order must stay within
   ``capacity_bytes``. A file past the cut is left out together with everything ranked after
   it, which wastes at most one file's worth of space (chunk files are tiny next to an edge).

Everything is ordered by (rank desc, object_id), so the same input gives the same placement.
Pure functions: DataFrames in, DataFrames out, no session and no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from vodlake.transforms.popularity import OBJECT_KEYS, object_id

ACTIONS: tuple[str, ...] = ("add", "keep", "drop")
# Columns of plan_placement's result after the key columns.
PLAN_COLUMNS: tuple[str, ...] = (
    "object_id",
    *OBJECT_KEYS,
    "bytes",
    "forecast",
    "score",
    "action",
    "reason",
)
_SCORE_DECIMALS = 6


def candidates(popularity: DataFrame) -> DataFrame:
    """Gold popularity rows of one date -> per edge x file: forecast reads/day and file bytes."""
    return (
        popularity.groupBy("edge_id", *OBJECT_KEYS)
        .agg(F.sum("forecast").alias("forecast"), F.max("file_bytes").alias("file_bytes"))
        .where(F.col("forecast") > 0)
    )


def rendezvous_weight(video_id: Column, edge_id: Column) -> Column:
    """Steering's rendezvous hash weight (vodlake.delivery.steering.hrw) as a built-in column.

    The SHA-256 hex digest of "video|edge": hex strings of equal length order as the numbers
    do, so the greatest string is the edge hrw ranks first.
    """
    return F.sha2(F.concat_ws("|", video_id, edge_id), 256)


def split_over_sites(wanted: DataFrame, edges: DataFrame) -> DataFrame:
    """Give a site's demand for each file to the one edge of the site steering sends its title to.

    Why: steering spreads titles over the edges of a client's ISP by rendezvous hashing, so a
    title's requests there go to one edge. Planned edge by edge, every edge of a site would rank
    the same head of the forecast and store it once each, while their pull-through caches hold
    different titles: the site's prefill would cover a fraction of what its disks could. As in
    Open Connect, the site is planned as one store split by the same hash as the requests.

    * ``wanted``: `candidates` rows (edge_id, *OBJECT_KEYS, file_bytes, forecast)
    * ``edges``: edge_id, isp (a site is an ISP's edges, as steering groups them)
    Same columns out; a site with one edge is unchanged.
    """
    site = edges.select("edge_id", "isp")
    demand = (
        wanted.join(F.broadcast(site), "edge_id")
        .groupBy("isp", *OBJECT_KEYS)
        .agg(F.sum("forecast").alias("forecast"), F.max("file_bytes").alias("file_bytes"))
    )
    owners = (
        demand.select("isp", "video_id")
        .distinct()
        .join(F.broadcast(site), "isp")
        .groupBy("isp", "video_id")
        .agg(
            F.max_by("edge_id", rendezvous_weight(F.col("video_id"), F.col("edge_id"))).alias(
                "edge_id"
            )
        )
    )
    return demand.join(owners, ["isp", "video_id"]).select(
        "edge_id", *OBJECT_KEYS, "file_bytes", "forecast"
    )


def chunk_weight(chunk_idx: Column, early_chunks: int, early_chunk_weight: float) -> Column:
    """``early_chunk_weight`` for the first ``early_chunks`` chunks, 1 for the rest."""
    return F.when(chunk_idx < F.lit(early_chunks), F.lit(float(early_chunk_weight))).otherwise(
        F.lit(1.0)
    )


def plan_placement(
    wanted: DataFrame,
    edges: DataFrame,
    previous: DataFrame | None = None,
    *,
    early_chunk_weight: float,
    early_chunks: int,
    min_swap_gain: float,
    keys: Sequence[str] = ("edge_id",),
) -> DataFrame:
    """Decide add / keep / drop per edge. Columns: ``*keys`` then PLAN_COLUMNS.

    * ``wanted``: what `candidates` returns: edge_id, video_id, rendition, chunk_idx,
      file_bytes, forecast (reads/day)
    * ``edges``: ``*keys``, capacity_bytes, fill_budget_bytes. ``keys`` starts with edge_id; extra
      keys (e.g. a capacity to evaluate) plan the same edge several times, independently.
    * ``previous``: ``*keys``, video_id, rendition, chunk_idx, bytes: what the edge holds now.

    Rows come out only for files that are added, kept or dropped; ``score`` is the weighted
    forecast popularity (rank density) and ``reason`` says why in words. The stages below are
    chained with `DataFrame.transform`, each testable on its own.
    """
    keys = list(keys)
    if not keys or keys[0] != "edge_id":
        raise ValueError(f"keys must start with edge_id (got {keys})")
    if early_chunk_weight < 1.0 or early_chunks < 0 or min_swap_gain < 0:
        raise ValueError(
            "early_chunk_weight must be >= 1, early_chunks and min_swap_gain >= 0 "
            f"(got {early_chunk_weight}, {early_chunks}, {min_swap_gain})"
        )
    return (
        wanted.transform(with_holdings, edges, previous, keys)
        .transform(scored, early_chunks, early_chunk_weight, min_swap_gain)
        .transform(decided, keys)
        .transform(explained, keys, early_chunks, early_chunk_weight, min_swap_gain)
    )


def with_holdings(
    wanted: DataFrame, edges: DataFrame, previous: DataFrame | None, keys: Sequence[str]
) -> DataFrame:
    """Stage 1: every candidate and every held file per edge, with its limits and incumbency."""
    keys, obj = list(keys), list(OBJECT_KEYS)
    wanted = wanted.join(F.broadcast(edges.select(*keys)), "edge_id").select(
        *keys, *obj, "file_bytes", "forecast"
    )
    if previous is None:
        joined = wanted.withColumn("held_bytes", F.lit(None).cast("long")).withColumn(
            "incumbent", F.lit(False)
        )
    else:
        held = previous.select(*keys, *obj, F.col("bytes").cast("long").alias("held_bytes"))
        joined = wanted.join(held.withColumn("incumbent", F.lit(True)), [*keys, *obj], "full_outer")
    return joined.join(
        F.broadcast(edges.select(*keys, "capacity_bytes", "fill_budget_bytes")), keys
    ).select(
        *keys,
        *obj,
        F.coalesce("file_bytes", "held_bytes").alias("bytes"),
        F.coalesce("forecast", F.lit(0.0)).alias("forecast"),
        F.coalesce("incumbent", F.lit(False)).alias("incumbent"),
        "capacity_bytes",
        "fill_budget_bytes",
    )


def scored(
    files: DataFrame, early_chunks: int, early_chunk_weight: float, min_swap_gain: float
) -> DataFrame:
    """Stage 2: object id, score (forecast x early weight) and the rank score with the margin."""
    return (
        files.withColumn(
            "object_id", object_id(F.col("video_id"), F.col("rendition"), F.col("chunk_idx"))
        )
        .withColumn(
            "score",
            F.round(
                F.col("forecast")
                * chunk_weight(F.col("chunk_idx"), early_chunks, early_chunk_weight),
                _SCORE_DECIMALS,
            ),
        )
        .withColumn(
            "rank_score",
            F.when(F.col("incumbent"), F.col("score") * F.lit(1.0 + min_swap_gain)).otherwise(
                F.col("score")
            ),
        )
    )


def decided(files: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Stage 3: fill budget, then capacity, as running sums in rank order; keeps what matters."""
    keys = list(keys)
    # One ordering per edge serves every step: files without demand rank last (score 0), so
    # they never change the running sums of the files above them.
    running = (
        Window.partitionBy(*keys)
        .orderBy(F.col("rank_score").desc(), F.col("object_id"))
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    wanted_file = F.col("score") > 0
    new_bytes = F.when(wanted_file & ~F.col("incumbent"), F.col("bytes")).otherwise(F.lit(0))
    return (
        files.withColumn("fill_used", F.sum(new_bytes).over(running))
        .withColumn(
            "fill_ok",
            wanted_file & (F.col("incumbent") | (F.col("fill_used") <= F.col("fill_budget_bytes"))),
        )
        .withColumn(
            "held_after",
            F.sum(F.when(F.col("fill_ok"), F.col("bytes")).otherwise(F.lit(0))).over(running),
        )
        .withColumn("selected", F.col("fill_ok") & (F.col("held_after") <= F.col("capacity_bytes")))
        # The best new file left out for space: an incumbent scoring below it stays only
        # because a swap would gain less than min_swap_gain.
        .withColumn(
            "best_left_out",
            F.max(
                F.when(F.col("fill_ok") & ~F.col("selected") & ~F.col("incumbent"), F.col("score"))
            ).over(Window.partitionBy(*keys)),
        )
        .where(F.col("selected") | F.col("incumbent"))
    )


def explained(
    files: DataFrame,
    keys: Sequence[str],
    early_chunks: int,
    early_chunk_weight: float,
    min_swap_gain: float,
) -> DataFrame:
    """Stage 4: the action and a reason in words, in the PLAN_COLUMNS layout."""
    gain = f"{min_swap_gain:.0%}"
    early = F.when(
        F.col("chunk_idx") < F.lit(early_chunks), F.lit(f", early chunk x{early_chunk_weight:g}")
    ).otherwise(F.lit(""))
    reads = F.format_string("%.3f", F.col("forecast"))
    action = (
        F.when(F.col("selected") & F.col("incumbent"), F.lit("keep"))
        .when(F.col("selected"), F.lit("add"))
        .otherwise(F.lit("drop"))
    )
    reason = (
        F.when(
            F.col("selected") & ~F.col("incumbent"),
            F.concat(F.lit("new: forecast "), reads, F.lit(" reads/day"), early),
        )
        .when(
            F.col("selected") & (F.col("score") < F.col("best_left_out")),
            F.concat(
                F.lit("kept: forecast "),
                reads,
                F.lit(f" reads/day; a swap would gain less than {gain}"),
                early,
            ),
        )
        .when(
            F.col("selected"),
            F.concat(
                F.lit("kept: forecast "),
                reads,
                F.lit(" reads/day, still ranks within capacity"),
                early,
            ),
        )
        .when(F.col("score") <= 0, F.lit("dropped: no forecast demand"))
        .otherwise(
            F.concat(
                F.lit("dropped: forecast "),
                reads,
                F.lit(" reads/day, displaced by denser files"),
            )
        )
    )
    return files.select(
        *keys,
        "object_id",
        *OBJECT_KEYS,
        F.col("bytes").cast("long").alias("bytes"),
        "forecast",
        "score",
        action.alias("action"),
        reason.alias("reason"),
    )


def summarize_plan(plan: DataFrame, keys: Sequence[str] = ("edge_id",)) -> DataFrame:
    """Per key: files and bytes to add, keep and drop, and bytes held after the fill."""
    aggs = []
    for action in ACTIONS:
        is_it = F.col("action") == action
        aggs.append(F.sum(F.when(is_it, 1).otherwise(0)).cast("long").alias(f"{action}_files"))
        aggs.append(
            F.sum(F.when(is_it, F.col("bytes")).otherwise(0)).cast("long").alias(f"{action}_bytes")
        )
    return (
        plan.groupBy(*keys)
        .agg(*aggs)
        .withColumn("held_bytes", F.col("add_bytes") + F.col("keep_bytes"))
        .orderBy(*keys)
    )


__all__ = [
    "ACTIONS",
    "PLAN_COLUMNS",
    "candidates",
    "chunk_weight",
    "decided",
    "explained",
    "plan_placement",
    "scored",
    "summarize_plan",
    "with_holdings",
]
