"""simulate-playback and reconcile pieces that need neither Spark nor Kafka."""

from __future__ import annotations

import json

import pytest

from vodlake.cli import main
from vodlake.commands.playback import throttle
from vodlake.telemetry import generator as ps
from vodlake.telemetry.reconcile import Reconciliation
from vodlake.telemetry.sim_catalog import catalog_from_rows


def _segments(video_id: str, renditions: dict[str, list[int]], seconds: float = 4.0) -> list:
    rows = []
    for name, sizes in renditions.items():
        for idx, size in enumerate(sizes):
            last = idx == len(sizes) - 1
            rows.append(
                {
                    "video_id": video_id,
                    "rendition": name,
                    "chunk_idx": idx,
                    "bytes": size,
                    "duration_s": 1.5 if last else seconds,
                }
            )
    return rows


def test_catalog_from_rows_builds_videos_and_says_why_others_are_skipped() -> None:
    videos = [
        {"video_id": "ok", "title": "Fine", "duration_s": 9.5},
        {"video_id": "gap", "title": None, "duration_s": 8.0},
        {"video_id": "uneven", "title": "U", "duration_s": 8.0},
        {"video_id": "bare", "title": "B", "duration_s": 8.0},
    ]
    segs = _segments("ok", {"360p": [100, 110, 50], "720p": [400, 420, 200]})
    segs += [s for s in _segments("gap", {"360p": [1, 2, 3]}) if s["chunk_idx"] != 1]
    segs += _segments("uneven", {"360p": [1, 2], "720p": [5, 6, 7]})
    catalog, skipped = catalog_from_rows(videos, segs)
    assert [v.video_id for v in catalog] == ["ok"]
    video = catalog[0]
    assert video.renditions == {"360p": [100, 110, 50], "720p": [400, 420, 200]}
    assert (video.segment_seconds, video.duration_s, video.title) == (4.0, 9.5, "Fine")
    assert skipped == {
        "bare": "no segments",
        "gap": "rendition 360p has gaps or repeats in chunk_idx",
        "uneven": "renditions have different chunk counts",
    }


def test_a_catalog_from_rows_drives_the_generator(cfg) -> None:
    videos = [{"video_id": "v1", "title": "One", "duration_s": 0}]
    catalog, _ = catalog_from_rows(videos, _segments("v1", {"360p": [9] * 30, "720p": [30] * 30}))
    assert catalog[0].duration_s == 29 * 4 + 1.5  # from the segments when the row has none
    events = list(ps.generate(catalog, cfg.topology, 1, 3, 1))
    chunks = [e for e in events if e["event_type"] == "chunk"]
    assert chunks and {e["video_id"] for e in events} == {"v1"}
    assert all(e["bytes"] == (9 if e["rendition"] == "360p" else 30) for e in chunks)


def test_throttle_paces_events_at_the_rate() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    out = list(throttle(range(5), 2.0, clock=lambda: now[0], sleep=sleep))
    assert out == [0, 1, 2, 3, 4]
    assert now[0] == pytest.approx(2.0)  # 5 events at 2/s: the last one is due at t=2 s
    assert list(throttle(range(3), None)) == [0, 1, 2]


def test_simulate_playback_to_files_is_deterministic(tmp_path, capsys) -> None:
    args = ["simulate-playback", "--days", "1", "--sessions-per-day", "3", "--seed", "5"]
    args += ["--no-kafka", "--synthetic", "--videos", "10", "--set", f"paths.home={tmp_path}"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    a = (tmp_path / "a" / "part-00000.jsonl").read_text()
    assert a == (tmp_path / "b" / "part-00000.jsonl").read_text()
    events = [json.loads(line) for line in a.splitlines()]
    assert len({e["session_id"] for e in events}) == 3
    assert f"wrote {len(events):,} events to 1 file(s)" in out
    assert "synthetic catalog of 10 videos" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--no-kafka"], "error: --no-kafka leaves nowhere to write"),
        (["--rate", "0", "--no-kafka", "--out", "x"], "error: --rate must be a positive number"),
        (["--start", "yesterday", "--no-kafka", "--out", "x"], "error: --start 'yesterday'"),
    ],
)
def test_simulate_playback_refuses_bad_options_in_one_line(extra, message, capsys) -> None:
    code = main(["simulate-playback", "--days", "1", "--sessions-per-day", "1", *extra])
    assert code == 2
    assert capsys.readouterr().err.startswith(message)


def test_reconciliation_lines_show_the_equation_and_the_verdict() -> None:
    ok = Reconciliation(bronze=1_010, silver=990, quarantine=12, duplicates=8, bronze_repeats=0)
    assert ok.holds
    assert "  1,010 = 990 + 12 + 8  -> holds" in ok.lines()
    lost = Reconciliation(bronze=1_010, silver=989, quarantine=12, duplicates=8, bronze_repeats=0)
    assert not lost.holds
    assert lost.lines()[-1].endswith("DOES NOT HOLD (unaccounted +1)")
    repeated = Reconciliation(bronze=10, silver=9, quarantine=1, duplicates=0, bronze_repeats=1)
    assert not repeated.holds


def test_the_dedupe_window_setting_is_checked_before_it_reaches_sql() -> None:
    from vodlake.errors import VodlakeError
    from vodlake.telemetry.ingest import dedupe_interval

    assert dedupe_interval("1 hour") == "INTERVAL 1 HOUR"
    assert dedupe_interval("90 seconds") == "INTERVAL 90 SECOND"
    with pytest.raises(VodlakeError, match=r"playback\.dedupe_window"):
        dedupe_interval("1 hour; DROP TABLE x")
