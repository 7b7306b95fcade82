"""Popularity, placement, manifests and evaluation on real Delta tables, from seeded playback.

One module-scoped lake: four days of generated playback written to silver, the nightly chain
for the last two days (the last one evaluated against the three before it). Reruns must change
nothing; the evaluation must cover every policy and capacity, and never put the prefill above
its bound (the clairvoyant static fill).
"""

from __future__ import annotations

import io
import json
from argparse import Namespace

import pytest
from pyspark.sql import functions as F

from tests.analytics_fixtures import analytics_lake
from vodlake.errors import VodlakeError
from vodlake.lake.storage import Storage
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

    store, folder = Storage.from_config(cfg), manifest_dir(cfg, day).rstrip("/")
    return {
        name: store.read_bytes(f"{folder}/{name}")
        for name in store.list_files(folder)
        if name.endswith(".json")
    }


def test_the_chain_ran_every_step(lake) -> None:
    made = lake["history"]
    assert made.rows > 20_000 and made.dates[-1] == made.last
    assert lake["silver"]["chunks"] > 0
    assert lake["popularity"]["rows"] >= lake["popularity"]["requested_files"] > 0
    assert lake["popularity"]["invalid_chunk_events"] == 0
    assert lake["evaluate"]["headline"]["capacity"] == "configured"


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
    manifest = tmp_path / f"{edge.id}.json"  # the origin may be s3a: the CLI reads a local file
    uri = f"{manifest_dir(cfg, lake['before']).rstrip('/')}/{edge.id}.json"
    manifest.write_bytes(Storage.from_config(cfg).read_bytes(uri))
    out = io.StringIO()
    args = Namespace(
        trace=str(path),
        policy="prefill",
        capacity=str(edge.capacity_bytes),
        ttl=None,
        manifest=str(manifest),
        json=True,
    )
    assert cli.run(args, out=out) == 0
    result = json.loads(out.getvalue())
    assert result["requests"] == len(trace)
    assert 0 < result["byte_hit_ratio"] < 1


def test_evaluation_covers_every_policy_and_capacity(spark, lake) -> None:
    from vodlake.placement import replay

    cfg, day = lake["cfg"], lake["history"].last
    rows = _partition(spark, cfg, "placement_eval", day).toPandas()
    edges = sorted(set(rows["edge_id"]) - {"ALL"})
    assert edges == sorted(e.id for e in cfg.topology.edges)
    policies = set(replay.POLICIES) - {replay.HYBRID}  # the hybrid is tuned offline only
    labels = {replay.fraction_label(f) for f in replay.WORKING_SET_FRACTIONS} | {"configured"}
    assert set(rows["policy"]) == policies and set(rows["capacity_label"]) == labels
    assert len(rows) == (len(edges) + 1) * len(policies) * len(labels)
    for (_, label), part in rows.groupby(["policy", "capacity_label"]):
        edge_rows, total = part[part["edge_id"] != "ALL"], part[part["edge_id"] == "ALL"]
        assert int(total["hit_bytes"].iloc[0]) == int(edge_rows["hit_bytes"].sum())
        assert ((part["byte_hit_ratio"] >= 0) & (part["byte_hit_ratio"] <= 1)).all()
        if label == "configured":  # the configured size, whatever the working set
            configured = {e.id: e.capacity_bytes for e in cfg.topology.edges}
            assert (edge_rows["capacity_bytes"] == edge_rows["edge_id"].map(configured)).all()
    # capacity is a share of each edge's own working set, never of the catalog
    ws = rows[rows["capacity_label"] == replay.fraction_label(0.5)]
    assert (ws["capacity_bytes"] - (0.5 * ws["working_set_bytes"]).round()).abs().max() <= 1
    # no output claims the prefill above its bound
    verdicts = lake["evaluate"]["evaluation"].verdicts()
    assert (verdicts["prefill_fraction_of_bound"] <= 1 + 1e-9).all(), verdicts
    total = rows[rows["edge_id"] == "ALL"]
    for policy in ("prefill", "clairvoyant-static", "lru-warm"):
        ratios = total[(total["policy"] == policy) & (total["capacity_label"] != "configured")]
        assert ratios.sort_values("capacity_fraction")["byte_hit_ratio"].is_monotonic_increasing
    store = Storage.from_config(cfg)  # reports live under the origin, local or s3a
    png = store.read_bytes(lake["evaluate"]["chart"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    page = store.read_bytes(lake["evaluate"]["html"]).decode("utf-8")
    assert str(day) in page and "hit_ratio.png" in page and "of the clairvoyant static" in page
    assert "Belady (cold)" not in page and "of Belady" not in page


def test_evaluation_rerun_changes_nothing(spark, lake) -> None:
    from vodlake.placement import evaluation as evaluate_placement

    cfg, made = lake["cfg"], lake["history"]
    before = _rows_digest(_partition(spark, cfg, "placement_eval", made.last))
    evaluate_placement.run(spark, cfg, made.last, train_days=DAYS - 1, log=lambda _: None)
    assert _rows_digest(_partition(spark, cfg, "placement_eval", made.last)) == before


def test_headline_is_judged_against_the_bound_and_warm_lru(lake) -> None:
    """At the configured capacities: the figures the demo prints, consistent with each other."""
    head = lake["evaluate"]["headline"]
    assert head["capacity"] == "configured"
    assert 0 < head["prefill"] <= head["clairvoyant_static"]
    expected = head["prefill"] / head["clairvoyant_static"]
    assert abs(head["prefill_fraction_of_bound"] - expected) < 1e-9
    assert abs(head["points_over_lru_warm"] - 100 * (head["prefill"] - head["lru_warm"])) < 1e-9


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
