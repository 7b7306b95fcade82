"""The generated workload is not the forecast's own: regional tastes, series, resumes, releases."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest

from vodlake.config import load_config
from vodlake.placement import variants
from vodlake.telemetry import generator as ps

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def topology():
    return load_config("test").topology


@pytest.fixture(scope="module")
def catalog():
    return ps.short_catalog(60, 4, max_duration_s=120.0, series_share=1.0)


def _starts(events):
    return [e for e in events if e["event_type"] == "start"]


def test_release_schedule_is_known_before_the_day(catalog) -> None:
    released = [v for v in catalog if v.release_day is not None]
    assert released, "the synthetic catalog schedules some releases"
    for video in released:
        assert video.release_at(START) == START + timedelta(days=video.release_day)
    assert next(v for v in catalog if v.release_day is None).release_at(START) is None
    frames = variants.catalog_frames(catalog, START)
    day0 = int(START.timestamp() // 86_400)
    row = frames.titles.set_index("video_id").loc[released[0].video_id]
    assert row["release_day"] == day0 + released[0].release_day
    assert len(frames.files) == ps.catalog_files(catalog)


def test_every_title_has_a_genre_and_language_and_series_keep_theirs(catalog) -> None:
    assert all(v.genre in ps.GENRES and v.language in ps.LANGUAGES for v in catalog)
    series = defaultdict(list)
    for v in catalog:
        if v.series_id is not None:
            series[v.series_id].append(v)
    assert series, "series_share=1 groups the episode-length titles into series"
    for episodes in series.values():
        assert [e.episode for e in episodes] == list(range(1, len(episodes) + 1))
        assert len({(e.genre, e.language) for e in episodes}) == 1


def test_regions_prefer_their_languages(catalog, topology) -> None:
    params = ps.SimParams(regional_preference=2.0)
    events = list(ps.generate(catalog, topology, 1, 500, seed=5, params=params))
    language = {v.video_id: v.language for v in catalog}
    shares = {}
    for region in ("us-east", "eu-west"):
        starts = [e for e in _starts(events) if e["region"] == region]
        local = sum(language[e["video_id"]] in ps.REGION_LANGUAGES[region] for e in starts)
        shares[region] = local / len(starts)
    events = list(ps.generate(catalog, topology, 1, 500, seed=5))
    flat = [e for e in _starts(events) if e["region"] == "eu-west"]
    flat_share = sum(language[e["video_id"]] in ("fr", "de") for e in flat) / len(flat)
    # with e^2 = 7.4x weight, eu-west watches far more French and German than without tastes
    assert shares["eu-west"] > flat_share + 0.2
    assert shares["us-east"] > 0.5  # English, the us-east language, is also the most common


def test_binge_viewers_watch_the_next_episode_in_order(catalog, topology) -> None:
    params = ps.SimParams(binge_continue=1.0)
    events = list(ps.generate(catalog, topology, 1, 200, seed=6, params=params))
    by_video = {v.video_id: v for v in catalog}
    per_user = defaultdict(list)
    for e in _starts(events):
        per_user[e["user_id"]].append((ps.parse_event_time(e["event_time"]), e["video_id"]))
    chains = 0
    for starts in per_user.values():
        starts.sort()
        for (_, a), (_, b) in pairwise(starts):
            va, vb = by_video[a], by_video[b]
            if va.series_id is not None and va.series_id == vb.series_id:
                assert vb.episode == va.episode + 1
                chains += 1
    assert chains > 20


def test_resumed_sessions_start_part_way(catalog, topology) -> None:
    def first_chunks(share: float) -> Counter:
        params = ps.SimParams(resume_share=share)
        firsts: dict[str, int] = {}
        for e in ps.generate(catalog, topology, 1, 300, seed=8, params=params):
            if e["event_type"] == "chunk":
                firsts.setdefault(e["session_id"], e["chunk_idx"])
        return Counter(c > 0 for c in firsts.values())

    assert first_chunks(0.0)[True] == 0
    resumed = first_chunks(0.5)
    assert 0.3 < resumed[True] / sum(resumed.values()) < 0.6


def test_test_day_releases_variant_moves_launches_onto_the_test_days() -> None:
    size = variants.Workload(titles=40, max_duration_s=60.0, train_days=4, test_days=2)
    plain = variants.catalog_for("zipf-0.7", 3, size)
    moved = variants.catalog_for("test-day-releases", 3, size)
    changed = [b for a, b in zip(plain, moved, strict=True) if a != b]
    assert sorted(v.release_day for v in changed) == [5, 5, 5, 6, 6, 6]
    assert all(
        dataclasses.replace(b, release_day=a.release_day) == a
        for a, b in zip(plain, moved, strict=True)
    )
