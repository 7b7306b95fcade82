"""Real-world source shapes without running ffmpeg (issue 15): what probe makes of ffprobe's
JSON, the frame rate a ladder is encoded at, which audio track is taken, the ladder for odd,
wide and portrait pictures, the unit plan, the MPD merge, and the error line a failure keeps."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from tests.unit.test_media_plan import APPLE
from vodlake.catalog.transcode import AUDIO_UNIT, catalog_facts, plan_units
from vodlake.media import _ff
from vodlake.media.encode import EncodeSettings
from vodlake.media.package import _rewrite_mpd, read_mpd
from vodlake.media.plan import fit_size, ladder_for, rung_size
from vodlake.media.probe import choose_audio, from_ffprobe, language_codes, output_rate


def video(**kw: Any) -> dict[str, Any]:
    base = {
        "index": 0, "codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080,
        "avg_frame_rate": "25/1", "r_frame_rate": "25/1", "duration": "10.0",
        "pix_fmt": "yuv420p", "start_time": "0.000000",
    }  # fmt: skip
    return {**base, **kw}


def audio(index: int, lang: str | None = None, default: bool = False, **kw: Any) -> dict:
    return {
        "index": index, "codec_type": "audio", "codec_name": "aac", "channels": 2,
        "channel_layout": "stereo", "start_time": "0.000000",
        "tags": {"language": lang} if lang else {},
        "disposition": {"default": int(default)}, **kw,
    }  # fmt: skip


def info_of(*streams: dict, fmt: dict | None = None, language: str | None = None):
    data = {
        "streams": list(streams),
        "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "start_time": "0.0", **(fmt or {})},
    }
    return from_ffprobe(data, "/x.mp4", 1000, language)


# --- probe facts ------------------------------------------------------------------------------
def test_rotation_90_and_270_swap_the_display_size_180_does_not() -> None:
    for rot, size in ((90, (1080, 1920)), (-90, (1080, 1920)), (180, (1920, 1080))):
        info = info_of(video(side_data_list=[{"rotation": rot}]))
        assert (info.width, info.height) == size, rot
        assert info.dar == ("9/16" if size[0] < size[1] else "16/9")
    assert info_of(video(tags={"rotate": "270"})).rotation == 270


def test_non_square_pixels_give_the_display_width_and_exact_aspect() -> None:
    info = info_of(video(width=720, height=576, sample_aspect_ratio="16:15"))
    assert (info.width, info.height, info.dar) == (768, 576, "4/3")
    odd = info_of(video(width=641, height=359, sample_aspect_ratio="0:1"))  # unknown = square
    assert (odd.width, odd.height, odd.dar) == (641, 359, "641/359")


def test_colour_bit_depth_and_dynamic_range() -> None:
    pq = info_of(
        video(pix_fmt="yuv420p10le", color_primaries="bt2020", color_transfer="smpte2084",
              color_space="bt2020nc", color_range="tv")
    )  # fmt: skip
    assert (pq.bit_depth, pq.dynamic_range, pq.needs_color_conversion) == (10, "pq", True)
    hlg = info_of(video(pix_fmt="yuv420p10le", color_transfer="arib-std-b67"))
    assert hlg.dynamic_range == "hlg"
    sdr10 = info_of(video(pix_fmt="yuv420p10le", color_primaries="bt709"))
    assert (sdr10.bit_depth, sdr10.dynamic_range, sdr10.needs_color_conversion) == (
        10, "sdr", False,
    )  # fmt: skip
    wide = info_of(video(color_primaries="bt2020", color_transfer="bt2020-10"))
    assert wide.dynamic_range == "sdr" and wide.needs_color_conversion
    facts = catalog_facts(pq)
    assert facts["color_transfer"] == "smpte2084" and facts["dynamic_range"] == "pq"
    assert facts["bit_depth"] == 10 and facts["pix_fmt"] == "yuv420p10le"


def test_interlaced_field_orders() -> None:
    assert info_of(video(field_order="tt")).interlaced
    assert info_of(video(field_order="bb")).interlaced
    assert not info_of(video(field_order="progressive")).interlaced
    assert not info_of(video()).interlaced


def test_start_times_are_relative_to_the_container_start() -> None:
    ts = info_of(
        video(start_time="1.421333", duration="5.0"),
        audio(1, start_time="1.400000"),
        fmt={"format_name": "mpegts", "start_time": "1.400000"},
    )
    assert (ts.start_s, ts.video_start_s, ts.audio_start_s) == (1.4, 0.021333, 0.0)
    late = info_of(video(start_time="5.0"), audio(1, start_time="5.5"), fmt={"start_time": "5.0"})
    assert (late.video_start_s, late.audio_start_s) == (0.0, 0.5)


def test_duration_is_the_pictures_not_the_longer_audio() -> None:
    info = info_of(video(duration="3.0"), audio(1, duration="4.5"), fmt={"duration": "4.5"})
    assert info.duration_s == 3.0
    mkv = video(duration=None, tags={"DURATION": "00:00:06.040000000"})
    assert info_of(mkv, fmt={"duration": "7.5"}).duration_s == pytest.approx(6.04)


def test_cover_art_is_not_the_video_stream() -> None:
    art = video(index=0, codec_name="mjpeg", disposition={"attached_pic": 1})
    info = info_of(art, video(index=1, codec_name="hevc"))
    assert (info.video_codec, info.video_index) == ("hevc", 1)


# --- frame rate -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("avg", "real", "want"),
    [
        ("25/1", "25/1", "25"),
        ("30000/1001", "30000/1001", "30000/1001"),
        ("24000/1001", "24000/1001", "24000/1001"),
        ("60000/1001", "60000/1001", "60000/1001"),
        ("50/1", "50/1", "50"),
        ("3002/100", "90000/1", "30"),  # phone VFR: jitter around 30
        ("2987/100", "90000/1", "30000/1001"),  # ... nearest is 29.97
        ("580/21", "30/1", "30"),  # 30 fps with a stutter: the base rate, gaps repeated
        ("240/1", "240/1", "60"),  # slow motion capture, halved to 60
        ("120000/1001", "120000/1001", "60000/1001"),
        ("25/2", "25/2", "25/2"),
        ("1000/77", "1000/77", "1000/77"),  # 12.99: kept, no standard rate near
    ],
)
def test_output_rate(avg: str, real: str, want: str) -> None:
    assert output_rate(Fraction(avg), Fraction(real)) == Fraction(want)


def test_probe_uses_the_output_rate_and_keeps_the_source_rate() -> None:
    info = info_of(video(avg_frame_rate="3002/100", r_frame_rate="90000/1"))
    assert (info.frame_rate, info.fps, info.source_frame_rate) == ("30/1", 30.0, "1501/50")


# --- audio track --------------------------------------------------------------------------------
TRACKS = [
    video(),
    audio(1, "fra", default=True),
    audio(2, "eng"),
    audio(3, "eng", default=True),
    audio(4, "ger"),
]


def test_audio_track_in_the_catalog_language_default_among_them() -> None:
    assert choose_audio(TRACKS, "en")["index"] == 3
    assert choose_audio(TRACKS, "en-GB")["index"] == 3
    assert choose_audio(TRACKS, "de")["index"] == 4  # bibliographic code "ger"


def test_audio_track_falls_back_to_the_default_then_the_first() -> None:
    assert choose_audio(TRACKS, None)["index"] == 1
    assert choose_audio(TRACKS, "ja")["index"] == 1
    no_default = [video(), audio(1, "spa"), audio(2, "ita")]
    assert choose_audio(no_default, None)["index"] == 1
    assert choose_audio([video()], "en") is None


def test_probe_records_the_chosen_track() -> None:
    info = info_of(*TRACKS, language="en")
    assert (info.audio_index, info.audio_streams, info.audio_language) == (3, 4, "eng")
    assert language_codes("fr") == {"fr", "fra", "fre"}


# --- ladder -----------------------------------------------------------------------------------
def _aspect_kept(w: int, h: int, sw: int, sh: int) -> bool:
    """Rounding each side to an even number moves it by at most 2 px."""
    return abs(w * sh - h * sw) <= 2 * (sw + sh)


@pytest.mark.parametrize(
    "source",
    [(1920, 804), (1920, 816), (1440, 1080), (1080, 1080), (1080, 1920), (641, 359),
     (720, 1280), (3840, 1608), (768, 576), (359, 641)],
)  # fmt: skip
def test_every_rung_keeps_the_aspect_never_upscales_and_is_even(source) -> None:
    sw, sh = source
    rungs = ladder_for(sw, sh, APPLE)
    assert rungs
    sizes = [rung_size(sw, sh, r) for r in rungs]
    for w, h in sizes:
        assert w % 2 == 0 and h % 2 == 0, (source, w, h)
        assert w <= sw and h <= sh, (source, w, h)
        assert _aspect_kept(w, h, sw, sh), (source, w, h)
        assert (w < h) == (sw < sh) or w == h, "portrait stays portrait"


def test_portrait_phone_gets_every_rung_standing_up() -> None:
    rungs = ladder_for(1080, 1920, APPLE)
    assert [r.name for r in rungs] == [r.name for r in APPLE]
    assert rung_size(1080, 1920, APPLE[-1]) == (1080, 1920)
    assert rung_size(1080, 1920, APPLE[0]) == (234, 416)
    assert rung_size(720, 1280, APPLE[-1]) == (720, 1280)
    assert [r.name for r in ladder_for(720, 1280, APPLE)][-1] == "720p"


def test_cinema_and_square_sources() -> None:
    assert [r.name for r in ladder_for(1920, 804, APPLE)][-1] == "1080p"
    assert rung_size(1920, 804, APPLE[-1]) == (1920, 804)
    assert rung_size(1920, 804, APPLE[0]) == (416, 174)
    assert rung_size(1080, 1080, APPLE[-1]) == (1080, 1080)
    assert rung_size(1080, 1080, APPLE[1]) == (360, 360)


def test_odd_source_sizes_never_round_up() -> None:
    assert fit_size(641, 359, 640, 360) == (640, 358)
    assert fit_size(643, 361, 1280, 720) == (642, 360)  # a box larger than the source
    (only,) = ladder_for(321, 179, APPLE)
    assert (only.width, only.height, only.name) == (320, 178, "178p")
    (tall,) = ladder_for(179, 321, APPLE)
    assert (tall.width, tall.height, tall.name) == (178, 320, "178p")
    assert rung_size(179, 321, tall) == (178, 320)


# --- unit plan --------------------------------------------------------------------------------
def test_plan_units_are_the_frame_plan_plus_one_audio_unit() -> None:
    src = info_of(video(duration="9.0"), audio(1))
    units = plan_units(src, EncodeSettings(segment_seconds=2), 2)
    assert [(u["kind"], u["unit_idx"], u["start_frame"], u["frames"]) for u in units] == [
        ("video", 0, 0, 100),
        ("video", 1, 100, 100),
        ("video", 2, 200, 25),
        ("audio", AUDIO_UNIT, None, None),
    ]
    assert units[-1]["duration_s"] == 9.0
    silent = info_of(video(duration="1.2"))
    (only,) = plan_units(silent, EncodeSettings(segment_seconds=4), 8)
    assert (only["frames"], only["segments"]) == (30, 1)  # shorter than one segment


def test_a_long_small_source_is_many_small_units() -> None:
    """30 minutes: the plan grows with the duration, each unit stays a few seconds."""
    src = info_of(video(width=320, height=180, duration="1800.0"), audio(1))
    units = plan_units(src, EncodeSettings(segment_seconds=4), 2)
    video_units = [u for u in units if u["kind"] == "video"]
    assert len(video_units) == 225 and {u["frames"] for u in video_units} == {200}
    assert sum(u["frames"] for u in video_units) == 45000


# --- the MPD merge ----------------------------------------------------------------------------
MUXER_MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
\txmlns="urn:mpeg:dash:schema:mpd:2011"
\txmlns:xlink="http://www.w3.org/1999/xlink"
\txsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 DASH-MPD.xsd"
\tprofiles="urn:mpeg:dash:profile:isoff-live:2011" type="static"
\tmediaPresentationDuration="PT6.0S" maxSegmentDuration="PT4.0S" minBufferTime="PT8.0S">
\t<Period id="0" start="PT0.0S">
\t\t<AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="24/1" maxWidth="416" maxHeight="176" par="26:11" lang="und">
\t\t\t<Representation id="0" mimeType="video/mp4" codecs="avc1.64000d" bandwidth="202178" width="416" height="176" sar="1:1">
\t\t\t\t<SegmentTemplate timescale="12288" initialization="$RepresentationID$/init.m4s" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
\t\t\t\t\t<SegmentTimeline><S t="0" d="49152" /><S d="24576" /></SegmentTimeline>
\t\t\t\t</SegmentTemplate>
\t\t\t</Representation>
\t\t</AdaptationSet>
\t\t<AdaptationSet id="1" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" frameRate="24/1" maxWidth="640" maxHeight="272" par="40:17" lang="und">
\t\t\t<Representation id="1" mimeType="video/mp4" codecs="avc1.640015" bandwidth="506048" width="640" height="272" sar="1:1">
\t\t\t\t<SegmentTemplate timescale="12288" initialization="$RepresentationID$/init.m4s" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
\t\t\t\t\t<SegmentTimeline><S t="0" d="49152" /><S d="24576" /></SegmentTimeline>
\t\t\t\t</SegmentTemplate>
\t\t\t</Representation>
\t\t</AdaptationSet>
\t\t<AdaptationSet id="2" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true" lang="und">
\t\t\t<Representation id="2" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
\t\t\t\t<SegmentTemplate timescale="48000" initialization="$RepresentationID$/init.m4s" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
\t\t\t\t\t<SegmentTimeline><S t="0" d="192000" /><S d="96000" /></SegmentTimeline>
\t\t\t\t</SegmentTemplate>
\t\t\t</Representation>
\t\t</AdaptationSet>
\t</Period>
</MPD>
"""  # noqa: E501


def test_mpd_merge_puts_every_rung_in_one_video_set_named_after_its_rendition(tmp_path) -> None:
    text = _rewrite_mpd(MUXER_MPD, {0: "180p", 1: "272p", 2: "audio"})
    mpd = tmp_path / "manifest.mpd"
    mpd.write_text(text)
    reps = read_mpd(mpd)
    assert [(r["id"], r["kind"], r["width"]) for r in reps] == [
        ("180p", "video", 416),
        ("272p", "video", 640),
        ("audio", "audio", None),
    ]
    assert reps[0]["timeline"] == reps[1]["timeline"]
    assert 'xmlns="urn:mpeg:dash:schema:mpd:2011"' in text and "xsi:schemaLocation" in text
    import xml.etree.ElementTree as ET

    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    sets = ET.fromstring(text).findall("d:Period/d:AdaptationSet", ns)
    assert [(a.get("id"), a.get("contentType")) for a in sets] == [("0", "video"), ("1", "audio")]
    vset = sets[0]
    assert (vset.get("maxWidth"), vset.get("maxHeight"), vset.get("par")) == ("640", "272", None)
    assert vset.get("bitstreamSwitching") == "false"


def test_mpd_merge_refuses_what_it_does_not_expect() -> None:
    from vodlake.errors import MediaError

    with pytest.raises(MediaError, match="unexpected representation"):
        _rewrite_mpd(MUXER_MPD, {0: "180p", 1: "272p"})
    with pytest.raises(MediaError, match="segment template"):
        _rewrite_mpd(MUXER_MPD.replace("$RepresentationID$/seg", "seg"), {0: "a", 1: "b", 2: "c"})


# --- the failure reason -----------------------------------------------------------------------
def test_reason_is_ffmpegs_cause_line_not_its_wrapper_banner() -> None:
    stderr = (
        "[dash @ 0x55b7b1ba8300] Conflicting stream aspect ratios values in Adaptation Set 1. "
        "Please ensure all adaptation sets have the same aspect ratio\n"
        "Could not write header for output file #0 (incorrect codec parameters ?): "
        "Invalid argument\n"
        "Error initializing output stream 0:1 -- \n"
    )
    assert _ff.last_error(stderr).startswith("Conflicting stream aspect ratios values")
    decode = (
        "[h264 @ 0x1] Invalid NAL unit size (1289 > 700).\n"
        "[h264 @ 0x1] Error splitting the input into NAL units.\n"
        "Error while decoding stream #0:0: Invalid data found when processing input\n"
        "41 frames successfully decoded, 3 decoding errors\n"
    )
    assert _ff.first_error(decode) == "Invalid NAL unit size (1289 > 700)."
    assert _ff.decode_errors(decode) == 3
    # nothing but a banner: still say it rather than "no error output"
    assert _ff.last_error("Error initializing output stream 0:1 -- \n") == (
        "Error initializing output stream 0:1 --"
    )
