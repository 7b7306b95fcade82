"""`vodlake upload` refuses a file that is not a video (ffprobe says so) before it stores or
sends anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodlake.catalog.uploads import Metadata, upload
from vodlake.errors import MediaError, VodlakeError
from vodlake.lake.storage import Storage


def test_upload_refuses_a_non_video_before_storing_or_sending(
    live_services, make_cfg, tmp_path: Path
) -> None:
    cfg = make_cfg(kafka={"bootstrap_servers": "127.0.0.1:1"})  # never reached
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 10)
    with pytest.raises(MediaError, match="not a video"):
        upload(cfg, notes, Metadata(title="Notes"))
    with pytest.raises(VodlakeError, match="title"):
        upload(cfg, notes, Metadata(title=" "))
    # this test's own upload area on the object store holds nothing
    assert Storage.from_config(cfg).list_files(cfg.paths.uploads) == []
