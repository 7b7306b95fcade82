"""Pure planning: segment/chunk boundaries and the ladder a source gets."""

from __future__ import annotations

import pytest

from vodlake.config import Rung as ConfigRung
from vodlake.media.plan import Rung, fit_size, ladder_for, plan_chunks, segment_frames

APPLE = [
    Rung("234p", 416, 234, 145),
    Rung("360p", 640, 360, 365),
    Rung("432p", 768, 432, 1100),
    Rung("540p", 960, 540, 2000),
    Rung("720p", 1280, 720, 4500),
    Rung("1080p", 1920, 1080, 7800),
]


def test_chunks_are_whole_segments_and_last_is_shorter() -> None:
    chunks = plan_chunks(30.0, segment_seconds=4, segments_per_chunk=3)
    assert [(c.start_s, c.duration_s, c.first_segment, c.segments) for c in chunks] == [
        (0.0, 12.0, 0, 3),
        (12.0, 12.0, 3, 3),
        (24.0, 6.0, 6, 2),
    ]
    assert [c.idx for c in chunks] == [0, 1, 2]
    # every chunk boundary is a segment boundary
    assert all(c.start_s % 4 == 0 for c in chunks)
    assert chunks[-1].end_s == 30.0


def test_exact_multiple_has_no_empty_tail() -> None:
    chunks = plan_chunks(16.0, 4, 2)
    assert [(c.start_s, c.duration_s, c.segments) for c in chunks] == [(0, 8, 2), (8, 8, 2)]


def test_short_video_is_one_chunk_of_one_segment() -> None:
    chunks = plan_chunks(1.5, 4, 8)
    assert len(chunks) == 1
    assert (chunks[0].start_s, chunks[0].duration_s, chunks[0].segments) == (0.0, 1.5, 1)


def test_frame_plan_at_25fps() -> None:
    chunks = plan_chunks(9.0, 2, 2, fps=25)
    assert [(c.start_frame, c.frames) for c in chunks] == [(0, 100), (100, 100), (200, 25)]
    assert [c.start_s for c in chunks] == [0.0, 4.0, 8.0]
    assert [c.segments for c in chunks] == [2, 2, 1]
    assert sum(c.frames or 0 for c in chunks) == 225


def test_frame_plan_at_ntsc_rate_rounds_segments_up_to_whole_frames() -> None:
    fps = 30000 / 1001
    assert segment_frames(4, fps) == 120  # 4.004 s: never shorter than the nominal 4 s
    assert segment_frames(4, 25) == 100
    assert segment_frames(2, 24000 / 1001) == 48
    chunks = plan_chunks(10.0, 4, 1, fps=fps)
    assert [c.frames for c in chunks] == [120, 120, 60]  # 300 frames in 10.01 s
    assert chunks[1].start_s == pytest.approx(120 / fps)
    assert chunks[1].duration_s >= 4


def test_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        plan_chunks(0, 4, 2)
    with pytest.raises(ValueError):
        plan_chunks(10, 0, 2)
    with pytest.raises(ValueError):
        plan_chunks(10, 4, 0)


def test_ladder_never_upscales_a_720p_source() -> None:
    kept = ladder_for(1280, 720, APPLE)
    assert [r.name for r in kept] == ["234p", "360p", "432p", "540p", "720p"]


def test_ladder_for_1080p_keeps_everything() -> None:
    assert ladder_for(1920, 1080, APPLE) == APPLE


def test_ladder_between_rungs_stops_below_source() -> None:
    assert [r.name for r in ladder_for(854, 480, APPLE)] == ["234p", "360p", "432p"]


def test_ladder_for_tiny_source_is_one_rung_at_source_size() -> None:
    (only,) = ladder_for(320, 180, APPLE)
    assert (only.name, only.width, only.height) == ("180p", 320, 180)
    # smallest rung's bitrate scaled by pixel count: 145 * 57600 / 97344
    assert only.bitrate_kbps == 86


def test_ladder_fallback_uses_even_dimensions_not_larger_than_source() -> None:
    (only,) = ladder_for(321, 181, APPLE)
    assert (only.width, only.height) == (320, 180)


def test_ladder_for_portrait_and_wide_sources_compares_the_scale() -> None:
    # a 1080x1920 phone video fits every 16:9 box without enlarging
    assert len(ladder_for(1080, 1920, APPLE)) == len(APPLE)
    # a 2.39:1 1920x804 film keeps its native-resolution rung
    assert ladder_for(1920, 804, APPLE)[-1].name == "1080p"


def test_ladder_accepts_config_rungs_and_checks_names() -> None:
    rungs = [ConfigRung(name="360p", width=640, height=360, bitrate_kbps=365)]
    assert ladder_for(640, 360, rungs) == rungs
    with pytest.raises(ValueError, match="must match"):
        ladder_for(640, 360, [Rung("360 p", 640, 360, 1)])
    with pytest.raises(ValueError, match="unique"):
        ladder_for(640, 360, [Rung("a", 640, 360, 1), Rung("a", 320, 180, 1)])
    with pytest.raises(ValueError):
        ladder_for(640, 360, [])


def test_fit_size_keeps_shape_and_even_dimensions() -> None:
    assert fit_size(1920, 1080, 640, 360) == (640, 360)
    assert fit_size(640, 480, 640, 360) == (480, 360)  # 4:3 pillarbox-free
    assert fit_size(180, 320, 320, 180) == (102, 180)  # portrait into a landscape box
    w, h = fit_size(1000, 1000, 417, 235)
    assert w % 2 == 0 and h % 2 == 0 and w <= 418 and h <= 236
