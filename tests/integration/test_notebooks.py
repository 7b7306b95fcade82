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
    from vodlake.jobs.demo import demo_records
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
    return {"demo_table": {"env": "test", "table_path": demo_path}}


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
