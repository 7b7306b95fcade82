"""`vodlake upload PATH --title T`: check a video, store it, announce it; prints the video id.

The work is vodlake.uploads.upload; this module only parses and prints. No Spark here, so the
command answers in about a second; the transcode stream (`vodlake stream uploads`) picks the
event up.
"""

from __future__ import annotations

import argparse
import json
import os

from vodlake.catalog.uploads import Metadata, parse_release_at, split_list, upload
from vodlake.config import load_config
from vodlake.runtime import add_set_option, overrides_from


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="the video file to upload")
    parser.add_argument("--title", required=True, help="the video's title")
    parser.add_argument("--description", default=None, help="a longer description")
    parser.add_argument("--tags", default=None, metavar="A,B", help="comma-separated tags")
    parser.add_argument("--genres", default=None, metavar="A,B", help="comma-separated genres")
    parser.add_argument("--language", default=None, help="spoken language, e.g. en")
    parser.add_argument(
        "--release-at",
        default=None,
        metavar="WHEN",
        help="when the title launches (ISO date or date-time, UTC if no offset): the nightly "
        "placement fills edges with it the night before",
    )
    parser.add_argument(
        "--video-id",
        default=None,
        help="upload as this video (default: derived from the file's content hash)",
    )
    parser.add_argument("--json", action="store_true", help="print the event as JSON too")
    add_set_option(parser)


def run(args: argparse.Namespace) -> int:
    env = args.env or os.environ.get("VODLAKE_ENV", "local")
    cfg = load_config(env, overrides=overrides_from(args.overrides))
    meta = Metadata(
        title=args.title,
        description=args.description,
        tags=split_list(args.tags),
        genres=split_list(args.genres),
        language=args.language,
        release_at=None if args.release_at is None else parse_release_at(args.release_at),
    )
    result = upload(cfg, args.path, meta, video_id=args.video_id)
    print(result.video_id)
    if args.json:
        print(json.dumps(result.event))
    return 0


__all__ = ["configure", "run"]
