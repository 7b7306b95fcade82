"""probe/validate on real files made by ffmpeg: the facts, and a clear reason per bad input."""

from __future__ import annotations

import pytest

from tests.media_fixtures import Samples
from vodlake.config import LimitsConf
from vodlake.errors import MediaError, VodlakeError
from vodlake.media.probe import Limits, check_tail_decodes, inspect, probe, validate

LIMITS = Limits(max_width=480, max_height=270, max_duration_s=60, max_bytes=10_000_000)


def test_probe_facts(samples: Samples) -> None:
    info = probe(samples.clip9)
    assert (info.width, info.height) == (320, 180)
    assert info.fps == 25.0 and info.frame_rate == "25/1"
    assert info.duration_s == pytest.approx(9.0, abs=0.01)
    assert info.video_codec == "h264"
    assert info.has_audio and info.audio_codec == "aac"
    assert info.size_bytes == samples.clip9.stat().st_size
    assert "mp4" in info.format_name
    assert info.bit_rate and info.bit_rate > 0
    assert info.nb_frames == 225
    assert validate(info, LIMITS) is info


def test_probe_keeps_the_exact_ntsc_rate(samples: Samples) -> None:
    info = probe(samples.clip_ntsc)
    assert info.frame_rate == "30000/1001"
    assert info.fps == pytest.approx(29.97, abs=0.001)
    assert info.nb_frames == 105


def test_probe_without_audio(samples: Samples) -> None:
    info = probe(samples.silent)
    assert not info.has_audio and info.audio_codec is None
    validate(info, LIMITS)


def test_rotated_video_reports_display_size(samples: Samples) -> None:
    info = probe(samples.rotated)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (180, 320)


def _reason(exc: pytest.ExceptionInfo[MediaError]) -> str:
    assert isinstance(exc.value, VodlakeError)
    assert exc.value.hint, "every rejection carries a hint"
    return exc.value.message


def test_zero_byte_file(samples: Samples) -> None:
    with pytest.raises(MediaError) as exc:
        inspect(samples.zero_byte, LIMITS)
    assert _reason(exc) == "empty file (0 bytes)"


def test_text_file_named_mp4(samples: Samples) -> None:
    with pytest.raises(MediaError) as exc:
        inspect(samples.text, LIMITS)
    assert _reason(exc).startswith("not a video: format not recognised")


def test_truncated_mp4_without_index(samples: Samples) -> None:
    with pytest.raises(MediaError) as exc:
        inspect(samples.truncated, LIMITS)
    reason = _reason(exc)
    assert reason.startswith("truncated or damaged MP4/MOV file")
    assert "moov atom not found" in reason
    assert str(samples.root) not in reason  # no local paths leak into the catalog


def test_truncated_mp4_with_index_first_is_caught_by_decoding_the_tail(samples: Samples) -> None:
    info = probe(samples.truncated_faststart)  # the index still promises 4 s
    assert info.duration_s == pytest.approx(4.0, abs=0.05)
    with pytest.raises(MediaError) as exc:
        validate(info, LIMITS)
    assert _reason(exc).startswith("truncated")
    # without the decode check the damage goes unnoticed: the check is what catches it
    validate(info, LIMITS, decode_check=False)


def test_tail_of_a_good_file_decodes(samples: Samples) -> None:
    assert check_tail_decodes(probe(samples.clip9)) >= 20  # about one second at 25 fps


def test_audio_only(samples: Samples) -> None:
    with pytest.raises(MediaError) as exc:
        inspect(samples.audio_only, LIMITS)
    assert _reason(exc) == "not a video: no video stream (audio only)"


def test_over_resolution_limit_names_the_limit(samples: Samples) -> None:
    with pytest.raises(MediaError) as exc:
        inspect(samples.big, LIMITS)
    assert _reason(exc) == "resolution too high: width 640 px exceeds the limit of 480 px"
    tall = Limits(max_width=1000, max_height=270, max_duration_s=60, max_bytes=10**9)
    with pytest.raises(MediaError, match="height 360 px exceeds the limit of 270 px"):
        inspect(samples.big, tall)


def test_duration_and_size_limits(samples: Samples) -> None:
    info = probe(samples.clip9)
    short = Limits(max_width=480, max_height=270, max_duration_s=5, max_bytes=10**9)
    with pytest.raises(MediaError, match=r"too long: duration 9.0 s exceeds the limit of 5.0 s"):
        validate(info, short)
    small = Limits(max_width=480, max_height=270, max_duration_s=60, max_bytes=1000)
    with pytest.raises(MediaError, match=rf"too large: {info.size_bytes} bytes exceeds"):
        validate(info, small)


def test_config_limits_fit(samples: Samples) -> None:
    assert inspect(samples.clip9, LimitsConf()).width == 320


def test_missing_file(tmp_path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        probe(tmp_path / "nope.mp4")
