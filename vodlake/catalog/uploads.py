"""Uploading a video: check it, store it under its content hash, announce it on Kafka.

Driver/CLI side only, no Spark: `vodlake upload` should answer in a second or two. The event is
the only thing the transcode stream trusts, and it names the stored copy, never the user's
original path.

Why content hashes: the upload area is content-addressed (`<paths.uploads>/<sha256>.<ext>`), so
uploading the same bytes twice stores one copy, and the default video id is derived from the
hash, so the same file uploaded again is the same video (a new event with a higher `seq`, which
the stream re-transcodes to identical segments).

Why `seq` is the producer's clock in microseconds: events of one video must carry increasing
sequence numbers so the catalog can ignore late or duplicated ones, and the uploader cannot ask
the catalog (that would need Spark). Microseconds since the epoch increase per video as long as
one video is not updated from two machines with skewed clocks within the skew; callers that know
better pass `seq` explicitly.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.lake import storage as st
from vodlake.schemas import UPLOAD_EVENT, UPLOAD_EVENT_TYPES, VIDEO_ID_PATTERN

# Video ids become folder names on origin storage and appear in SQL predicates.
VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
_EXT = re.compile(r"^[a-z0-9]{1,8}$")
EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in UPLOAD_EVENT.fields)


@dataclass(frozen=True)
class Metadata:
    """What a person types about a video. Empty fields of a `metadata_updated` event mean
    "unchanged"."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    language: str | None = None
    # When the title launches: the nightly forecast fills edges with it the night before.
    release_at: datetime | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags) or None,
            "genres": list(self.genres) or None,
            "language": self.language,
            "release_at": None if self.release_at is None else _iso_utc(self.release_at),
        }


@dataclass(frozen=True)
class UploadResult:
    video_id: str
    seq: int
    source_uri: str
    sha256: str
    size_bytes: int
    event: dict[str, Any] = field(repr=False)


def split_list(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """`"drama, family"` -> ("drama", "family"); blanks and duplicates dropped, order kept."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(s.strip() for s in items if s and s.strip()))


def check_video_id(video_id: str) -> str:
    if not isinstance(video_id, str) or not VIDEO_ID.fullmatch(video_id):
        raise VodlakeError(
            f"bad video id {video_id!r}",
            hint="use 1-64 letters, digits, '-' or '_', starting with a letter or digit",
        )
    return video_id


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def video_id_for(sha256: str) -> str:
    """The default id of a video: 16 hex digits of its content hash (64 bits)."""
    return f"v{sha256[:16]}"


def next_seq() -> int:
    """Microseconds since the epoch (see the module doc)."""
    return time.time_ns() // 1000


def _iso_utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _utc_now() -> str:
    return _iso_utc(datetime.now(timezone.utc))


def parse_release_at(text: str) -> datetime:
    """``2026-12-01`` or ``2026-12-01T20:00[:00][Z|+hh:mm]`` -> an aware UTC datetime.

    A time without an offset is UTC (release schedules are global).
    """
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise VodlakeError(
            f"release time {text!r} is not an ISO date or date-time",
            hint="e.g. 2026-12-01 or 2026-12-01T20:00Z (UTC when no offset is given)",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def make_event(
    video_id: str,
    type_: str,
    seq: int,
    *,
    source_uri: str | None = None,
    source_sha256: str | None = None,
    metadata: Metadata | None = None,
    event_time: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One upload event as the JSON object produced to Kafka (fields of schemas.UPLOAD_EVENT)."""
    check_video_id(video_id)
    if type_ not in UPLOAD_EVENT_TYPES:
        raise VodlakeError(f"unknown event type {type_!r}", hint=f"one of {UPLOAD_EVENT_TYPES}")
    if type_ == "uploaded" and not source_uri:
        raise VodlakeError("an 'uploaded' event needs a source_uri")
    if int(seq) < 0:
        raise VodlakeError(f"seq must not be negative, got {seq}")
    event: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "video_id": video_id,
        "seq": int(seq),
        "type": type_,
        "source_uri": source_uri,
        "source_sha256": source_sha256,
        **(metadata or Metadata()).fields(),
        "event_time": event_time or _utc_now(),
    }
    missing = set(EVENT_FIELDS) - set(event)
    extra = set(event) - set(EVENT_FIELDS)
    if missing or extra:  # the schema and this function must move together
        raise AssertionError(f"event fields differ from UPLOAD_EVENT: {missing=} {extra=}")
    return {name: event[name] for name in EVENT_FIELDS}


def _extension(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return ext if _EXT.match(ext) else "bin"


def store_source(
    cfg: Config, path: str | os.PathLike[str], storage: st.Storage | None = None
) -> tuple[str, str, int]:
    """Copy a local file into the upload area under its content hash.

    Returns (source URI, sha256, bytes). Storing the same bytes again writes nothing.
    """
    src = Path(path)
    if not src.is_file():
        raise VodlakeError(f"no such file: {src}", hint="give the path of a video file")
    storage = storage or st.Storage.from_config(cfg)
    digest = sha256_file(src)
    size = src.stat().st_size
    uri = st.join(cfg.paths.uploads, f"{digest}.{_extension(src)}")
    try:
        if storage.size(uri) != size:
            storage.put_file(src, uri)
    except OSError as exc:  # pyarrow's S3 errors are OSErrors: the store is down or refuses
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise st.StorageError(
            f"could not store the upload in {st.normalize(cfg.paths.uploads)}: {reason}",
            hint="is the object store running? `vodlake services up` (nothing was sent)",
        ) from None
    return uri, digest, size


def send(cfg: Config, events: Iterable[dict[str, Any]], topic: str | None = None) -> int:
    """Produce upload events keyed by video_id (one video's events stay in order)."""
    from vodlake.lake import kafka_io

    topic = topic or cfg.kafka.topics.uploads
    kafka_io.ensure_topic(cfg, topic)
    return kafka_io.produce(cfg, topic, events, key="video_id")


def upload(
    cfg: Config,
    path: str | os.PathLike[str],
    metadata: Metadata,
    *,
    video_id: str | None = None,
    seq: int | None = None,
    check: bool = True,
    topic: str | None = None,
    storage: st.Storage | None = None,
) -> UploadResult:
    """Check (ffprobe), store under the content hash, produce an `uploaded` event.

    `check=False` skips the ffprobe check, so the stream's own checks can be exercised with
    damaged files (a client that bypasses the CLI, or a file damaged in storage).
    """
    if not metadata.title or not metadata.title.strip():
        raise VodlakeError("a title is required", hint="pass --title 'My video'")
    if check:
        from vodlake.media import inspect

        inspect(path, cfg.transcode.limits)  # MediaError (a VodlakeError) says what is wrong
    uri, digest, size = store_source(cfg, path, storage)
    vid = check_video_id(video_id) if video_id else video_id_for(digest)
    event = make_event(
        vid,
        "uploaded",
        next_seq() if seq is None else seq,
        source_uri=uri,
        source_sha256=digest,
        metadata=metadata,
    )
    send(cfg, [event], topic)
    return UploadResult(vid, event["seq"], uri, digest, size, event)


def update_metadata(
    cfg: Config,
    video_id: str,
    metadata: Metadata,
    *,
    seq: int | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """Produce a `metadata_updated` event (fields left empty stay as they are)."""
    event = make_event(
        video_id, "metadata_updated", next_seq() if seq is None else seq, metadata=metadata
    )
    send(cfg, [event], topic)
    return event


def delete(
    cfg: Config, video_id: str, *, seq: int | None = None, topic: str | None = None
) -> dict[str, Any]:
    """Produce a `deleted` event: the stream removes the video's files and catalog rows."""
    event = make_event(video_id, "deleted", next_seq() if seq is None else seq)
    send(cfg, [event], topic)
    return event


__all__ = [
    "EVENT_FIELDS",
    "VIDEO_ID",
    "Metadata",
    "UploadResult",
    "check_video_id",
    "delete",
    "make_event",
    "next_seq",
    "parse_release_at",
    "send",
    "sha256_file",
    "split_list",
    "store_source",
    "update_metadata",
    "upload",
    "video_id_for",
]
