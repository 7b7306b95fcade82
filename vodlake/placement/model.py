"""Tomorrow's demand per edge and file from a request log, and the fill it leads to (pandas).

Why this shape: one edge sees each chunk file a handful of times a day, so per-file counts are
mostly noise; a file's demand is better read as (demand for its title at the edge) x (share of
the title's requests that reach that chunk) x (share of the edge's requests in that rendition):

* title demand at an edge is the edge's own decayed history where it has plenty, shrunk toward
  its region's demand (scaled to the edge's traffic) where it has little; the region in turn
  shrinks toward all edges. Regions and ISPs watch different things, so pooling everything
  would erase exactly what an edge needs;
* the chunk curve (early abandonment, resumes) is the title's own, shrunk toward all titles';
* the rendition mix is the edge's own (devices and last miles differ by ISP), per chunk bucket
  because players start low and climb;
* a title on the release schedule for the forecast day has no history: it gets the release-day
  demand that earlier releases (of the same genre or language when there are enough) had at
  that edge, so it is filled before launch; a title released days ago follows the decay earlier
  releases showed at the same age.

Object ids that are not ``video/rendition/chunk`` (any other request log) fall back to the same
shrinkage per object. Deterministic: ties break by object id everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from vodlake.placement.params import ALL_REGION, CHUNK_BUCKETS, ForecastParams


@dataclass(frozen=True)
class Catalog:
    """What the service knows before the day: every file with its size, and the release schedule.

    ``files``: object_id, video_id, rendition, chunk_idx, size. ``titles``: video_id,
    release_day (the day index it launches, NaN if long released), and optionally genre,
    language (used to find similar past releases).
    """

    files: pd.DataFrame
    titles: pd.DataFrame


def parse_object_ids(ids: pd.Series) -> pd.DataFrame | None:
    """``video/rendition/chunk`` ids -> video_id, rendition, chunk_idx; None if one does not."""
    codes, uniques = pd.factorize(ids.astype(str))
    parts = pd.Series(uniques).str.rsplit("/", n=2, expand=True)
    if parts.shape[1] != 3 or parts.isna().any().any():
        return None
    chunk = pd.to_numeric(parts[2], errors="coerce")
    if chunk.isna().any() or (chunk < 0).any():
        return None
    return pd.DataFrame(
        {
            "video_id": parts[0].to_numpy()[codes],
            "rendition": parts[1].to_numpy()[codes],
            "chunk_idx": chunk.astype(np.int64).to_numpy()[codes],
        },
        index=ids.index,
    )


def bucket_of(chunk_idx: pd.Series | np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(CHUNK_BUCKETS), np.asarray(chunk_idx), side="right") - 1


def _shrink(own: pd.Series, pooled: pd.Series, weight: pd.Series) -> pd.Series:
    return weight * own.fillna(0.0) + (1.0 - weight) * pooled.fillna(0.0)


def day_weights(days: np.ndarray, target: int, half_life: float) -> np.ndarray:
    """Decay weight of each training day: 1 for the day before ``target``, halving per half-life."""
    return 0.5 ** ((target - 1 - days) / half_life)


def title_demand(
    train: pd.DataFrame,
    target: int,
    regions: Mapping[str, str],
    params: ForecastParams,
    key: str = "video_id",
) -> pd.DataFrame:
    """Expected requests of each ``key`` at each edge on ``target`` (edge_id, key, demand).

    Decayed daily averages, the edge's shrunk toward its region's, the region's toward all.
    """
    days = np.sort(train["day"].unique())
    norm = float(day_weights(days, target, params.half_life_days).sum())
    w = day_weights(train["day"].to_numpy(), target, params.half_life_days)
    frame = pd.DataFrame(
        {"edge_id": train["edge_id"].to_numpy(), key: train[key].to_numpy(), "w": w / norm}
    )
    frame["region"] = frame["edge_id"].map(lambda e: regions.get(e, ALL_REGION))
    edge = frame.groupby(["edge_id", key], sort=False)["w"].sum().rename("x_e")
    region = frame.groupby(["region", key], sort=False)["w"].sum().rename("x_r")
    overall = frame.groupby(key, sort=False)["w"].sum().rename("x_g")
    n_edge = frame.groupby("edge_id").size()
    n_region = frame.groupby("region").size()
    t_edge = frame.groupby("edge_id")["w"].sum()
    t_region = frame.groupby("region")["w"].sum()
    t_all = float(frame["w"].sum())

    edges = pd.DataFrame({"edge_id": n_edge.index})
    edges["region"] = edges["edge_id"].map(lambda e: regions.get(e, ALL_REGION))
    edges["lam_e"] = n_edge.values / (n_edge.values + params.edge_prior_requests)
    edges["share_e"] = edges["edge_id"].map(t_edge) / edges["region"].map(t_region)
    edges["lam_r"] = edges["region"].map(n_region) / (
        edges["region"].map(n_region) + params.region_prior_requests
    )
    edges["share_r"] = edges["region"].map(t_region) / t_all

    grid = edges.merge(overall.reset_index(), how="cross")
    grid = grid.merge(region.reset_index(), on=["region", key], how="left")
    grid = grid.merge(edge.reset_index(), on=["edge_id", key], how="left")
    region_hat = _shrink(grid["x_r"], grid["share_r"] * grid["x_g"], grid["lam_r"])
    grid["demand"] = _shrink(grid["x_e"], grid["share_e"] * region_hat, grid["lam_e"])
    return grid.loc[grid["demand"] > 0, ["edge_id", key, "demand"]]


def chunk_curve(train: pd.DataFrame, n_chunks: pd.Series, params: ForecastParams) -> pd.DataFrame:
    """Share of a title's requests at each chunk: its own counts shrunk toward all titles'.

    ``n_chunks``: video_id -> chunks the title has. Returns video_id, chunk_idx, p.
    """
    pooled = train.groupby("chunk_idx").size()
    own = train.groupby(["video_id", "chunk_idx"]).size().rename("m").reset_index()
    rows = pd.DataFrame(
        {
            "video_id": np.repeat(n_chunks.index.to_numpy(), n_chunks.to_numpy()),
            "chunk_idx": np.concatenate([np.arange(n) for n in n_chunks.to_numpy()])
            if len(n_chunks)
            else np.array([], dtype=np.int64),
        }
    )
    rows["q"] = rows["chunk_idx"].map(pooled).fillna(0.0).astype(float)
    rows["q"] = rows["q"] / rows.groupby("video_id")["q"].transform("sum").where(lambda s: s > 0)
    rows = rows.merge(own, on=["video_id", "chunk_idx"], how="left")
    rows["m"] = rows["m"].fillna(0.0)
    total = rows.groupby("video_id")["m"].transform("sum")
    alpha = params.chunk_prior
    rows["p"] = (rows["m"] + alpha * rows["q"].fillna(0.0)) / (total + alpha)
    return rows[["video_id", "chunk_idx", "p"]]


def rendition_mix(
    train: pd.DataFrame, renditions: Sequence[str], params: ForecastParams
) -> pd.DataFrame:
    """Per edge and chunk bucket, the share of requests in each rendition (shrunk to all edges)."""
    frame = train.assign(bucket=bucket_of(train["chunk_idx"]))
    pooled = frame.groupby(["bucket", "rendition"]).size()
    pooled = (pooled / pooled.groupby(level="bucket").transform("sum")).rename("g")
    own = frame.groupby(["edge_id", "bucket", "rendition"]).size().rename("c")
    edges = frame["edge_id"].unique()
    grid = pd.MultiIndex.from_product(
        [edges, range(len(CHUNK_BUCKETS)), list(renditions)],
        names=["edge_id", "bucket", "rendition"],
    ).to_frame(index=False)
    grid = grid.merge(own.reset_index(), how="left").merge(pooled.reset_index(), how="left")
    grid[["c", "g"]] = grid[["c", "g"]].fillna(0.0)
    n = grid.groupby(["edge_id", "bucket"])["c"].transform("sum")
    beta = params.mix_prior
    grid["mix"] = (grid["c"] + beta * grid["g"]) / (n + beta)
    return grid[["edge_id", "bucket", "rendition", "mix"]]


def release_demand(
    train: pd.DataFrame,
    titles: pd.DataFrame,
    launching: pd.DataFrame,
    edges: Sequence[str],
) -> pd.DataFrame:
    """Release-day demand per edge for titles launching on the target day (edge_id, video_id).

    The mean release-day request count at the edge of earlier releases seen in the window,
    taken over those sharing language and genre, else language, else genre (when at least two
    do), else over all.
    """
    released = titles.dropna(subset=["release_day"])
    seen = train.merge(released[["video_id", "release_day"]], on="video_id")
    first_day = seen[seen["day"] == seen["release_day"]]
    per = first_day.groupby(["edge_id", "video_id"]).size().rename("n").reset_index()
    past = released[released["video_id"].isin(first_day["video_id"].unique())]
    if past.empty or launching.empty:
        return pd.DataFrame({"edge_id": [], "video_id": [], "demand": []}).astype(
            {"edge_id": object, "video_id": object, "demand": float}
        )
    grid = pd.MultiIndex.from_product([list(edges), past["video_id"]], names=["edge_id", "vid"])
    full = grid.to_frame(index=False).merge(
        per.rename(columns={"video_id": "vid"}), on=["edge_id", "vid"], how="left"
    )
    full["n"] = full["n"].fillna(0.0)
    out = []
    for _, title in launching.iterrows():
        similar = past
        # Language first: regional tastes follow it; then genre; at least two to average.
        for attrs in (("language", "genre"), ("language",), ("genre",)):
            if not all(a in past and pd.notna(title.get(a)) for a in attrs):
                continue
            alike = past[np.logical_and.reduce([past[a] == title[a] for a in attrs])]
            if len(alike) >= 2:
                similar = alike
                break
        part = full[full["vid"].isin(similar["video_id"])]
        mean = part.groupby("edge_id")["n"].mean()
        out.append(
            pd.DataFrame(
                {"edge_id": mean.index, "video_id": title["video_id"], "demand": mean.values}
            )
        )
    return pd.concat(out, ignore_index=True)


def age_decay(train: pd.DataFrame, titles: pd.DataFrame, max_age: int) -> dict[int, float]:
    """Ratio of requests at age a+1 to age a days after release, pooled over earlier releases."""
    released = titles.dropna(subset=["release_day"])
    seen = train.merge(released[["video_id", "release_day"]], on="video_id")
    seen = seen.assign(age=seen["day"] - seen["release_day"])
    counts = seen.groupby(["video_id", "age"]).size()
    ratios: dict[int, float] = {}
    for age in range(max_age):
        pairs = [
            (counts.get((v, age), 0), counts.get((v, age + 1), 0))
            for v in seen["video_id"].unique()
            if (v, age) in counts.index and (v, age + 1) in counts.index
        ]
        if pairs:
            ratios[age] = float(sum(b for _, b in pairs) / max(1, sum(a for a, _ in pairs)))
    return ratios


def forecast(
    train: pd.DataFrame,
    target: int,
    *,
    regions: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
    params: ForecastParams | None = None,
) -> pd.DataFrame:
    """Expected requests on day ``target`` per edge and file: edge_id, object_id, size, forecast.

    ``train``: requests of the days before ``target`` (day, edge_id, object_id, size).
    """
    params = params or ForecastParams()
    regions = dict(regions or {})
    train = train[(train["day"] < target) & (train["day"] >= target - params.lookback_days)]
    if train.empty:
        return pd.DataFrame(columns=["edge_id", "object_id", "size", "forecast"])
    parsed = parse_object_ids(train["object_id"])
    if parsed is None:
        return _forecast_objects(train, target, regions, params)
    train = pd.concat([train.drop(columns=parsed.columns, errors="ignore"), parsed], axis=1)
    edges = sorted(train["edge_id"].unique())
    demand = title_demand(train, target, regions, params)

    if catalog is not None:
        files = catalog.files
        titles = catalog.titles
        launching = titles[titles["release_day"] == target]
        later = titles.loc[titles["release_day"] > target, "video_id"]
        demand = demand[
            ~demand["video_id"].isin(later) & ~demand["video_id"].isin(launching["video_id"])
        ]
        demand = _age_adjusted(demand, train, titles, target, params)
        new = release_demand(train, titles, launching, edges)
        if not new.empty:
            demand = pd.concat([demand, new], ignore_index=True)
    else:
        files = (
            train.groupby("object_id", sort=False)
            .agg(
                video_id=("video_id", "first"),
                rendition=("rendition", "first"),
                chunk_idx=("chunk_idx", "first"),
                size=("size", "max"),
            )
            .reset_index()
        )
    return spread(files, demand, train, params)


def spread(
    files: pd.DataFrame, demand: pd.DataFrame, train: pd.DataFrame, params: ForecastParams
) -> pd.DataFrame:
    """Title demand (edge_id, video_id, demand) -> per edge and file, by chunk curve and mix.

    ``train``: parsed training requests (edge_id, video_id, rendition, chunk_idx).
    """
    files = files[files["video_id"].isin(demand["video_id"].unique())]
    n_chunks = files.groupby("video_id")["chunk_idx"].max() + 1
    curve = chunk_curve(train, n_chunks, params)
    mix = rendition_mix(train, sorted(files["rendition"].unique()), params)
    out = files.merge(curve, on=["video_id", "chunk_idx"]).assign(
        bucket=lambda f: bucket_of(f["chunk_idx"])
    )
    out = out.merge(demand, on="video_id").merge(mix, on=["edge_id", "bucket", "rendition"])
    out["forecast"] = out["demand"] * out["p"] * out["mix"]
    out = out.loc[out["forecast"] > 0, ["edge_id", "object_id", "size", "forecast"]]
    return _by_id(out)


def _by_id(out: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by edge and object id: `place` breaks ties by this order."""
    return out.sort_values(["edge_id", "object_id"], kind="stable").reset_index(drop=True)


def _age_adjusted(
    demand: pd.DataFrame,
    train: pd.DataFrame,
    titles: pd.DataFrame,
    target: int,
    params: ForecastParams,
) -> pd.DataFrame:
    """Recent releases: yesterday's demand at the edge times the decay earlier releases showed."""
    recent = titles[
        (titles["release_day"] < target)
        & (titles["release_day"] >= target - params.release_age_days)
    ]
    if recent.empty:
        return demand
    ratios = age_decay(train, titles, params.release_age_days + 1)
    last = train[train["day"] == target - 1]
    yesterday = last.groupby(["edge_id", "video_id"]).size().rename("y").reset_index()
    ages = (target - 1 - recent.set_index("video_id")["release_day"]).astype(int)
    factor = ages.map(lambda a: ratios.get(a, np.nan)).dropna()
    if factor.empty:
        return demand
    adj = yesterday[yesterday["video_id"].isin(factor.index)].copy()
    adj["aged"] = adj["y"] * adj["video_id"].map(factor)
    merged = demand.merge(
        adj[["edge_id", "video_id", "aged"]], on=["edge_id", "video_id"], how="left"
    )
    merged["demand"] = merged["aged"].where(merged["aged"].notna(), merged["demand"])
    return merged[["edge_id", "video_id", "demand"]]


def _forecast_objects(
    train: pd.DataFrame, target: int, regions: Mapping[str, str], params: ForecastParams
) -> pd.DataFrame:
    """Any request log: per object, the same edge -> region -> all shrinkage."""
    demand = title_demand(train, target, regions, params, key="object_id")
    sizes = train.groupby("object_id")["size"].max().rename("size")
    out = demand.merge(sizes.reset_index(), on="object_id").rename(columns={"demand": "forecast"})
    return _by_id(out[["edge_id", "object_id", "size", "forecast"]])


@njit(cache=True)
def _fill(sizes, incumbent, capacity, fill_budget):  # type: ignore[no-untyped-def]
    keep = np.zeros(sizes.shape[0], np.bool_)
    free = capacity
    budget = fill_budget
    for i in range(sizes.shape[0]):
        s = sizes[i]
        if s > free:
            continue
        if not incumbent[i]:
            if s > budget:
                continue
            budget -= s
        keep[i] = True
        free -= s
    return keep


def place(
    edge_forecast: pd.DataFrame,
    capacity: int,
    *,
    previous: Mapping[str, int] | None = None,
    min_swap_gain: float = 0.05,
    fill_budget: int | None = None,
) -> dict[str, int]:
    """One edge's fill for ``capacity`` bytes: object_id -> bytes, in rank order.

    Ranked by forecast requests (hit bytes per stored byte), ties by object id; files held from
    ``previous`` rank with a ``min_swap_gain`` bonus (a swap costs fill traffic) and cost no
    fill; new files are taken while they fit in the space and in ``fill_budget`` bytes.
    Files held but no longer forecast are dropped.
    """
    ids = edge_forecast["object_id"].to_numpy()
    incumbent = (
        edge_forecast["object_id"].isin(list(previous)).to_numpy()
        if previous
        else np.zeros(len(ids), dtype=np.bool_)
    )
    rank = edge_forecast["forecast"].to_numpy(float) * np.where(incumbent, 1.0 + min_swap_gain, 1.0)
    # Ties by object id: `forecast` returns rows ordered by id, so a stable sort keeps that.
    order = np.argsort(-rank, kind="stable")
    sizes = edge_forecast["size"].to_numpy(np.int64)[order]
    budget = np.int64(fill_budget if fill_budget is not None else np.iinfo(np.int64).max)
    keep = _fill(sizes, incumbent[order], np.int64(capacity), budget)
    return dict(zip(ids[order][keep].tolist(), sizes[keep].tolist(), strict=True))


def cut(manifest: Mapping[str, int], budget: int) -> dict[str, int]:
    """The manifest's entries, in its order, that fit in ``budget`` bytes (the hybrid's part)."""
    out: dict[str, int] = {}
    free = budget
    for obj, size in manifest.items():
        if size <= free:
            out[obj] = size
            free -= size
    return out
