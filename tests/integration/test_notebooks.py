"""Every notebook in notebooks/ runs end to end on real Delta tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebook_harness import cells, run_notebook

pytestmark = pytest.mark.integration

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.py"))


def test_notebooks_exist_and_are_databricks_source() -> None:
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        assert cells(path), path


@pytest.fixture(scope="module")
def notebook_params(spark, tmp_path_factory) -> dict[str, dict[str, str]]:
    """Per notebook: the parameters that point it at small tables written here."""
    from vodlake.demo.stages import demo_records
    from vodlake.schemas import DEMO_EVENT

    home = tmp_path_factory.mktemp("notebooks")
    records = demo_records(300)
    df = spark.createDataFrame(
        [(r["event_id"], r["video_id"], r["title"], r["seq"], r["event_time"]) for r in records],
        "event_id string, video_id string, title string, seq long, event_time string",
    ).selectExpr("*", "cast(event_time as timestamp) as ts")
    df = df.selectExpr(
        *[f.name if f.name != "event_time" else "ts as event_time" for f in DEMO_EVENT.fields],
        "pmod(hash(video_id), 2) as kafka_partition",
        "cast(0 as long) as kafka_offset",
        "current_timestamp() as ingested_at",
    )
    demo_path = str(home / "demo_events")
    df.write.format("delta").save(demo_path)
    params = {"demo_table": {"env": "test", "table_path": demo_path}}

    # popularity_explorer, placement_explorer: two days of seeded playback, the nightly chain
    from tests.analytics_fixtures import analytics_lake

    analytics = analytics_lake(
        spark,
        home / "analytics",
        titles=30,
        max_duration_s=60.0,
        days=2,
        sessions_per_day=150,
        seed=3,
    )
    for name in ("popularity_explorer", "placement_explorer"):
        params[name] = {"env": "test", "lake": analytics["cfg"].paths.lake}
    return params


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, spark, notebook_params) -> None:
    if path.stem not in notebook_params:
        pytest.fail(f"add parameters for notebook {path.stem} to notebook_params")
    scope = run_notebook(path, spark, notebook_params[path.stem])
    assert scope["displayed"], f"{path.stem} displayed nothing"
    if path.stem == "demo_table":
        rows = scope["per_video"].collect()
        assert len(rows) == 100 and sum(r.events for r in rows) == 300
        assert all(r.partitions == 1 for r in rows)
    if path.stem == "popularity_explorer":
        assert scope["top"].count() == 20
        assert scope["curve"]["requests"].iloc[0] >= scope["curve"]["requests"].iloc[-1]
    if path.stem == "placement_explorer":
        assert set(scope["gb"].index) == {e.id for e in scope["cfg"].topology.edges}
        assert set(scope["evaluation"].rows["policy"]) >= {
            "prefill",
            "clairvoyant-static",
            "lru-warm",
            "belady-warm",
        }
        assert (scope["verdicts"]["prefill_fraction_of_bound"] <= 1 + 1e-9).all()
