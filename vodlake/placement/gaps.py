"""Where a nightly prefill loses against its bound, per test day and edge at its capacity.

Why: "prefill reaches 70% of the clairvoyant static fill" does not say what to fix. The bound
knows three things the night before cannot: which titles will be watched at all (some are
first watched on the test day and were neither in the history nor on the release schedule),
how much each known title will be watched at the edge, and which of a title's files those
views fetch. Each static fill below removes one of those handicaps, on the same requests:

* ``knowable_bound``: the clairvoyant fill restricted to titles knowable the night before
  (requested in the training window, or launching on the test day per the schedule). What it
  misses against ``bound`` is out of reach of any forecast: compulsory misses of unforeseeable
  titles;
* ``oracle_titles``: the model's own fill, but with each title's true test-day request count
  at the edge in place of the forecast title demand (chunk curve and rendition mix still
  forecast): the gap to it is the cost of title-demand error; its gap to ``knowable_bound`` is
  the cost of spreading a title's demand over its files (chunk curve, rendition mix);
* ``fresh_prefill``: the model's fill made without yesterday's placement (no churn limit and
  no fill budget): against the evaluated prefill it shows what the budget costs.

Pandas only; served bytes of a static fill are the test-day bytes of the requests it holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from vodlake.placement import model, replay

COLUMNS: tuple[str, ...] = (
    "test_day",
    "edge_id",
    "capacity_bytes",
    "requested",
    "bound",
    "knowable_bound",
    "oracle_titles",
    "fresh_prefill",
)


def served(test: pd.DataFrame, fill: Mapping[str, int]) -> int:
    """Test-day bytes a static fill serves: every request of a file it holds."""
    return int(test.loc[test["object_id"].isin(list(fill)), "size"].sum())


def breakdown(
    requests: pd.DataFrame,
    catalog: model.Catalog,
    *,
    train_days: int,
    test_days: int,
    regions: Mapping[str, str],
    capacities: Mapping[str, int],
    params: model.ForecastParams | None = None,
) -> pd.DataFrame:
    """COLUMNS per test day and edge (the days `offline.evaluate_requests` tests)."""
    params = params or model.ForecastParams(lookback_days=train_days)
    first = int(requests["day"].min())
    rows = []
    for day in range(first + train_days, first + train_days + test_days):
        train = requests[(requests["day"] < day) & (requests["day"] >= day - params.lookback_days)]
        fc = model.forecast(train, day, regions=regions, catalog=catalog, params=params)
        parsed = pd.concat([train, model.parse_object_ids(train["object_id"])], axis=1)
        launching = catalog.titles.loc[catalog.titles["release_day"] == day, "video_id"]
        known = set(parsed["video_id"]) | set(launching)
        test_all = requests[requests["day"] == day]
        test_all = test_all.assign(
            video_id=model.parse_object_ids(test_all["object_id"])["video_id"]
        )
        truth = test_all.groupby(["edge_id", "video_id"]).size().rename("demand").reset_index()
        oracle = model.spread(catalog.files, truth, parsed, params)
        for edge, cap in sorted(capacities.items()):
            test = test_all[test_all["edge_id"] == edge]
            if test.empty:
                continue
            knowable = test[test["video_id"].isin(known)]
            rows.append(
                {
                    "test_day": day,
                    "edge_id": edge,
                    "capacity_bytes": cap,
                    "requested": int(test["size"].sum()),
                    "bound": served(test, replay.clairvoyant_fill(test, cap)),
                    "knowable_bound": served(test, replay.clairvoyant_fill(knowable, cap))
                    if not knowable.empty
                    else 0,
                    "oracle_titles": served(
                        test, model.place(oracle[oracle["edge_id"] == edge], cap)
                    ),
                    "fresh_prefill": served(test, model.place(fc[fc["edge_id"] == edge], cap)),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def shares(gaps: pd.DataFrame) -> dict[str, float]:
    """Each fill as a share of the bound, all edges summed, averaged over the test days (as
    `variants.summary` averages the prefill's share)."""
    names = ["knowable_bound", "oracle_titles", "fresh_prefill"]
    per_day = gaps.groupby("test_day")[["bound", *names]].sum()
    return {n: float((per_day[n] / per_day["bound"]).mean()) for n in names}


__all__ = ["COLUMNS", "breakdown", "served", "shares"]
