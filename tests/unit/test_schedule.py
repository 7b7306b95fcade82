"""conf/schedule: the Databricks-Jobs-style definition and the cron line run the nightly chain."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vodlake.placement.forecast import parse_date
from vodlake.placement.nightly import STEPS, parse_steps


def test_schedule_definitions_point_at_real_jobs() -> None:
    """conf/schedule: every task runs an existing entry point, dependencies form the chain."""
    root = Path(__file__).parents[2]
    job = json.loads((root / "conf/schedule/nightly_job.json").read_text())
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert list(tasks) == list(STEPS)
    for i, (key, task) in enumerate(tasks.items()):
        script = task["spark_python_task"]["python_file"]
        assert (root / script).is_file(), script
        params = task["spark_python_task"]["parameters"]
        assert params[params.index("--date") + 1].startswith("{{")  # the scheduler's date
        if "--steps" in params:
            assert parse_steps(params[params.index("--steps") + 1]) == [key]
        deps = [d["task_key"] for d in task.get("depends_on", [])]
        assert deps == ([] if i == 0 else [list(tasks)[i - 1]])
    # quartz: seconds minutes hours day-of-month month day-of-week
    assert job["schedule"]["quartz_cron_expression"].split()[:3] == ["0", "30", "2"]
    cron = [
        line
        for line in (root / "conf/schedule/nightly.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(cron) == 1
    fields = cron[0].split()
    assert fields[:5] == ["30", "2", "*", "*", "*"]
    assert "nightly --date yesterday" in cron[0]


def test_yesterday_is_the_utc_day_before_today() -> None:
    today = datetime.now(timezone.utc).date()
    assert parse_date("yesterday") == today - timedelta(days=1)
    assert parse_date("today") == today
    assert parse_date("2026-11-01").isoformat() == "2026-11-01"
