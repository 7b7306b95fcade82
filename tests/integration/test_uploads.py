"""`vodlake upload` refuses a file that is not a video (ffprobe says so) before it stores or
sends anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodlake.catalog.uploads import Metadata, upload
from vodlake.errors import MediaError, VodlakeError
from vodlake.lake.storage import parse_uri


def test_upload_refuses_a_non_video_before_storing_or_sending(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(kafka={"bootstrap_servers": "127.0.0.1:1"})  # never reached
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 10)
    with pytest.raises(MediaError, match="not a video"):
        upload(cfg, notes, Metadata(title="Notes"))
    with pytest.raises(VodlakeError, match="title"):
        upload(cfg, notes, Metadata(title=" "))
    assert not Path(parse_uri(cfg.paths.uploads).path).exists()
