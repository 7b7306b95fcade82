"""Popularity, placement, manifests and evaluation on real Delta tables, from seeded playback.

One module-scoped lake: four days of generated playback written to silver, the nightly chain
for the last two days (the last one evaluated against the three before it). Reruns must change
nothing; the evaluation must cover every policy and capacity; and on this seeded playback the
prefill placement must meet the acceptance bar against Belady and LRU at 5% of catalog bytes.
"""

from __future__ import annotations

import io
import json
from argparse import Namespace
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.analytics_fixtures import analytics_lake
from vodlake.errors import VodlakeError
from vodlake.lake.tables import Tables

pytestmark = pytest.mark.integration

DAYS = 4


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    return analytics_lake(
        spark,
        tmp_path_factory.mktemp("analytics"),
        titles=60,
        max_duration_s=180.0,
        days=DAYS,
        sessions_per_day=700,
        seed=5,
    )


def _rows_digest(df) -> tuple[int, int]:
    """Row count and an order-independent checksum of every column (computed in Spark)."""
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.xxhash64(*df.columns).cast("decimal(38,0)")).alias("h"),
    ).first()
    return int(row["n"]), int(row["h"] or 0)


def _partition(spark, cfg, table: str, day):
    return Tables(cfg).read(spark, table).where(F.col("date") == F.lit(day))


def _manifest_files(cfg, day) -> dict[str, bytes]:
    from vodlake.placement.manifests import manifest_dir

    folder = Path(manifest_dir(cfg, day))
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


def test_the_chain_ran_every_step(lake) -> None:
    made = lake["history"]
    assert made.rows > 20_000 and made.dates[-1] == made.last
    assert lake["silver"]["chunks"] > 0
    assert lake["popularity"]["rows"] >= lake["popularity"]["requested_files"] > 0
    assert lake["popularity"]["invalid_chunk_events"] == 0
    assert lake["evaluate"]["acceptance"] is not None


def test_popularity_rerun_replaces_only_its_date(spark, lake) -> None:
    from vodlake.placement import forecast as popularity

    cfg, day, before = lake["cfg"], lake["history"].last, lake["before"]
    snapshot = _rows_digest(_partition(spark, cfg, "gold_popularity", day))
    other = _rows_digest(_partition(spark, cfg, "gold_popularity", before))
    out = popularity.run(spark, cfg, day, log=lambda _: None)
    assert out["rows"] == snapshot[0]
    assert _rows_digest(_partition(spark, cfg, "gold_popularity", day)) == snapshot
    assert _rows_digest(_partition(spark, cfg, "gold_popularity", before)) == other


def test_placement_rerun_writes_identical_manifests(spark, lake) -> None:
    from vodlake.placement import manifests as placement

    cfg, day, before = lake["cfg"], lake["history"].last, lake["before"]
    table = _rows_digest(_partition(spark, cfg, "placement", day))
    files = _manifest_files(cfg, day)
    assert sorted(files) == sorted(f"{e.id}.json" for e in cfg.topology.edges)
    placement.run(spark, cfg, day, log=lambda _: None)
    assert _rows_digest(_partition(spark, cfg, "placement", day)) == table
    assert _manifest_files(cfg, day) == files
    assert _manifest_files(cfg, before)  # the day before keeps its own manifests


def test_placement_respects_capacity_budget_and_yesterday(spark, lake) -> None:
    cfg, day = lake["cfg"], lake["history"].last
    plan = _partition(spark, cfg, "placement", day)
    actions = {r["action"]: r["count"] for r in plan.groupBy("action").count().collect()}
    # the day before was placed, so today keeps some files and swaps others
    assert actions.get("keep", 0) > 0 and actions.get("add", 0) > 0
    for edge in cfg.topology.edges:
        doc = json.loads(_manifest_files(cfg, day)[f"{edge.id}.json"])
        assert doc["held_bytes"] == doc["add_bytes"] + doc["keep_bytes"] <= edge.capacity_bytes
        assert doc["add_bytes"] <= edge.fill_budget_bytes
        scores = [e["score"] for e in doc["add"]]
        assert scores == sorted(scores, reverse=True)
        assert all(e["reason"] and e["bytes"] > 0 for e in doc["add"] + doc["keep"] + doc["drop"])
    # every kept or dropped file was on the edge after the previous fill
    held_before = (
        Tables(cfg)
        .read(spark, "placement")
        .where((F.col("date") == F.lit(lake["before"])) & F.col("action").isin("add", "keep"))
    )
    orphans = plan.where(F.col("action").isin("keep", "drop")).join(
        held_before, ["edge_id", "object_id"], "left_anti"
    )
    assert orphans.count() == 0


def test_manifest_drives_the_cachesim_cli(spark, lake, tmp_path) -> None:
    """Yesterday's manifest replayed by `vodlake cachesim` against that edge's day of requests."""
    from vodlake.commands import cachesim as cli
    from vodlake.placement.manifests import manifest_dir
    from vodlake.transforms.popularity import chunk_requests

    cfg, day = lake["cfg"], lake["history"].last
    edge = cfg.topology.edges[0]
    trace = (
        chunk_requests(Tables(cfg).read(spark, "silver_playback"))
        .where((F.col("event_date") == F.lit(day)) & (F.col("edge_id") == edge.id))
        .select("time", "object_id", F.col("bytes").alias("size"))
        .orderBy("time", "object_id")
        .toPandas()
    )
    path = tmp_path / "trace.csv"
    trace.to_csv(path, index=False, float_format="%.3f")
    manifest = f"{manifest_dir(cfg, lake['before'])}/{edge.id}.json"
    out = io.StringIO()
    args = Namespace(
        trace=str(path),
        policy="prefill",
        capacity=str(edge.capacity_bytes),
        ttl=None,
        manifest=manifest,
        json=True,
    )
    assert cli.run(args, out=out) == 0
    result = json.loads(out.getvalue())
    assert result["requests"] == len(trace)
    assert 0 < result["byte_hit_ratio"] < 1


def test_evaluation_covers_every_policy_and_capacity(spark, lake) -> None:
    from vodlake.placement.evaluation import DEFAULT_FRACTIONS, POLICIES

    cfg, day = lake["cfg"], lake["history"].last
    rows = _partition(spark, cfg, "placement_eval", day).toPandas()
    edges = sorted(set(rows["edge_id"]) - {"ALL"})
    assert edges == sorted(e.id for e in cfg.topology.edges)
    assert len(rows) == (len(edges) + 1) * len(POLICIES) * len(DEFAULT_FRACTIONS)
    for (policy, fraction), part in rows.groupby(["policy", "capacity_fraction"]):
        assert policy in POLICIES and fraction in DEFAULT_FRACTIONS
        edge_rows, total = part[part["edge_id"] != "ALL"], part[part["edge_id"] == "ALL"]
        assert int(total["hit_bytes"].iloc[0]) == int(edge_rows["hit_bytes"].sum())
        assert ((part["byte_hit_ratio"] >= 0) & (part["byte_hit_ratio"] <= 1)).all()
    # a bigger cache never serves less for LRU (inclusion) or a prefill (a longer prefix)
    total = rows[rows["edge_id"] == "ALL"]
    for policy in ("lru", "prefill"):
        ratios = total[total["policy"] == policy].sort_values("capacity_fraction")
        assert ratios["byte_hit_ratio"].is_monotonic_increasing
    png = Path(lake["evaluate"]["chart"]).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    page = Path(lake["evaluate"]["html"]).read_text()
    assert str(day) in page and "hit_ratio.png" in page


def test_evaluation_rerun_changes_nothing(spark, lake) -> None:
    from vodlake.placement import evaluation as evaluate_placement

    cfg, made = lake["cfg"], lake["history"]
    before = _rows_digest(_partition(spark, cfg, "placement_eval", made.last))
    evaluate_placement.run(
        spark,
        cfg,
        made.last,
        train_days=DAYS - 1,
        catalog_bytes=made.catalog_bytes,
        log=lambda _: None,
    )
    assert _rows_digest(_partition(spark, cfg, "placement_eval", made.last)) == before


def test_prefill_meets_the_acceptance_bar(lake) -> None:
    """At 5% of catalog bytes: prefill >= 90% of Belady and >= 10 points above LRU."""
    acc = lake["evaluate"]["acceptance"]
    assert acc["fraction"] == 0.05
    assert acc["prefill"] >= 0.9 * acc["belady"], acc
    assert acc["prefill"] - acc["lru"] >= 0.10, acc
    assert acc["passed"]


def test_a_day_without_playback_is_a_clear_error(spark, lake) -> None:
    from vodlake.placement import forecast as popularity
    from vodlake.placement import manifests as placement

    cfg, made = lake["cfg"], lake["history"]
    empty_day = made.last.replace(year=made.last.year + 1)
    with pytest.raises(VodlakeError, match="no chunk requests") as err:
        popularity.run(spark, cfg, empty_day, log=lambda _: None)
    assert err.value.hint
    with pytest.raises(VodlakeError, match="no rows"):
        placement.run(spark, cfg, empty_day, log=lambda _: None)
