"""The fill agent: apply each edge's prefill manifest of a date to its prefill store.

Three steps, so that the part that moves bytes needs no Spark (as on a real appliance, which
gets its fill list from the control plane and fills by itself):

1. plan (Spark, control plane): the manifest's object ids (`video_id/rendition/chunk_idx`) are
   resolved through the `segments` table to origin files with their size and sha256; every
   title in the manifest also gets its playlists and init segments (from `videos` and
   `renditions`: small, and without them a prefilled title could not start with the origin
   down). The plan is written to `<edge>/fill/<date>.plan.json`.
2. apply (plain Python, `apply_plan`): files not wanted any more are deleted first (the
   manifest's drops, and anything else the store holds outside the plan); then, in manifest
   rank order, each wanted file that is missing is fetched from a peer edge of the same site
   (same region and ISP) that holds it in its prefill store, else from the origin; it is
   written to a temporary file, checked against the size and sha256 of the `segments` table
   (a mismatch is rejected, logged, and never reaches the store), and renamed into place, so
   nginx only ever sees whole, verified files. The night's fill budget (bytes moved for that
   manifest date, over all runs) and the edge's capacity stop the fill ("deferred"); a rate
   limit paces it. Every action is appended to `<edge>/fill/<date>.journal.jsonl`.
3. record (Spark): the journals become `edge_fills`, what the stores hold `edge_inventory`
   (the date's rows of the filled edges are replaced, so a rerun is idempotent).

Idempotent: a file already in place with the expected size is kept, so a second run moves no
byte. Resumable: a killed run leaves at most a temporary file (removed by the next run, which
holds the edge's fill lock) and a journal of what it finished; the next run keeps what is in
place and fills the rest, and the budget counts the bytes the killed run moved.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from vodlake.config import Config
from vodlake.delivery import edges
from vodlake.errors import VodlakeError

Log = Callable[[str], None]
CHUNK = 256 * 1024
FETCH_TIMEOUT_S = 30.0
RESULTS = ("filled", "dropped", "rejected", "failed", "deferred")


@dataclass(frozen=True)
class FillFile:
    """One file of a plan. `bytes`/`sha256` are None for playlists and init segments, which
    the catalog does not checksum: they are taken as the origin serves them."""

    path: str  # "videos/<video_id>/<relative path on the origin>"
    video_id: str
    object_id: str | None = None
    bytes: int | None = None
    sha256: str | None = None


@dataclass
class EdgePlan:
    edge_id: str
    date: str
    budget_bytes: int
    capacity_bytes: int
    want: list[FillFile] = field(default_factory=list)  # keep + add, in fill order
    drop: list[FillFile] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # object ids not in `segments`

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=0)

    @classmethod
    def from_json(cls, text: str) -> EdgePlan:
        data = json.loads(text)
        data["want"] = [FillFile(**f) for f in data["want"]]
        data["drop"] = [FillFile(**f) for f in data["drop"]]
        return cls(**data)


def plan_path(lay: edges.EdgeLayout, day: date | str) -> Path:
    return lay.fill_dir / f"{day}.plan.json"


def journal_path(lay: edges.EdgeLayout, day: date | str) -> Path:
    return lay.fill_dir / f"{day}.journal.jsonl"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


# --- apply (no Spark) ---------------------------------------------------------------------------


class RateLimit:
    """Paces a transfer to `rate` bytes per second on average since it started."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.done = 0

    def consume(self, n: int) -> None:
        self.done += n
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


class Journal:
    """`<edge>/fill/<date>.journal.jsonl`: one line per action, flushed as it happens."""

    def __init__(self, path: Path, edge_id: str, day: str, run_id: str) -> None:
        self.path, self.edge_id, self.day, self.run_id = path, edge_id, day, run_id
        self.counts: dict[str, list[int]] = {r: [0, 0] for r in RESULTS}
        self.by_source: dict[str, int] = {}

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill
                out.append(json.loads(line))
        return out

    def moved_bytes(self) -> int:
        return sum(e["bytes"] for e in self.entries() if e["result"] == "filled")

    def add(
        self,
        f: FillFile,
        result: str,
        *,
        size: int,
        source: str = "",
        seconds: float = 0.0,
        reason: str | None = None,
        sha256: str | None = None,
    ) -> None:
        entry = {
            "date": self.day,
            "edge_id": self.edge_id,
            "run_id": self.run_id,
            "video_id": f.video_id,
            "object_id": f.object_id,
            "path": f.path,
            "bytes": size,
            "source": source,
            "seconds": round(seconds, 4),
            "result": result,
            "reason": reason,
            "sha256": sha256,
            "filled_at": datetime.now(UTC).isoformat(),
        }
        with open(self.path, "a") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.counts[result][0] += 1
        self.counts[result][1] += size
        if result == "filled":
            self.by_source[source] = self.by_source.get(source, 0) + size


@contextlib.contextmanager
def fill_lock(lay: edges.EdgeLayout) -> Iterator[None]:
    """One fill at a time per edge (a second one fails at once instead of racing)."""
    lay.fill_dir.mkdir(parents=True, exist_ok=True)
    with open(lay.fill_dir / "lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VodlakeError(
                f"another fill of edge {lay.edge.id} is running", hint="wait for it to finish"
            ) from None
        yield


def held_files(lay: edges.EdgeLayout) -> dict[str, int]:
    """Relative path ("videos/...") -> bytes of every file in the prefill store."""
    root = lay.prefill
    videos = root / "videos"
    if not videos.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.stat().st_size for p in videos.rglob("*") if p.is_file()
    }


def _prune_empty_dirs(top: Path) -> None:
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


def sources_for(cfg: Config, lay: edges.EdgeLayout, rel: str) -> list[tuple[str, str]]:
    """(label, URL) to try for a file, in order: each peer of the site, then the origin."""
    out = []
    for peer in cfg.topology.edges:
        if peer.id != lay.edge.id and (peer.region, peer.isp) == (lay.edge.region, lay.edge.isp):
            out.append((f"peer:{peer.id}", f"{edges.edge_base_url(cfg, peer.id)}/prefill/{rel}"))
    out.append(("origin", f"{edges.origin_base_url(cfg)}/{rel}"))
    return out


def _download(url: str, tmp: Path, limit: RateLimit) -> tuple[int, str]:
    """GET `url` into `tmp` (fsynced); returns (bytes, sha256)."""
    digest = hashlib.sha256()
    size = 0
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as resp, open(tmp, "wb") as out:
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            limit.consume(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def fetch_file(
    cfg: Config, lay: edges.EdgeLayout, f: FillFile, journal: Journal, limit: RateLimit
) -> int:
    """Fill one file from the first source that gives the right bytes; returns bytes moved."""
    tmp_dir = lay.fill_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    reasons = []
    for label, url in sources_for(cfg, lay, f.path):
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        started = time.monotonic()
        try:
            size, sha = _download(url, tmp, limit)
        except urllib.error.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            reasons.append(f"{label}: HTTP {exc.code}")
            continue
        except (urllib.error.URLError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            reasons.append(f"{label}: {getattr(exc, 'reason', exc)}")
            continue
        seconds = time.monotonic() - started
        bad = None
        if f.bytes is not None and size != f.bytes:
            bad = f"size {size} != {f.bytes} in segments"
        elif f.sha256 is not None and sha != f.sha256:
            bad = f"sha256 {sha[:12]}... != {f.sha256[:12]}... in segments"
        if bad:
            tmp.unlink(missing_ok=True)
            journal.add(f, "rejected", size=size, source=label, seconds=seconds, reason=bad)
            reasons.append(f"{label}: rejected ({bad})")
            continue
        dest = lay.prefill / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)  # whole and verified, or not there at all
        journal.add(f, "filled", size=size, source=label, seconds=seconds, sha256=sha)
        return size
    if not any("rejected" in r for r in reasons):
        journal.add(f, "failed", size=f.bytes or 0, reason="; ".join(reasons)[:500])
    return 0


def apply_plan(
    cfg: Config, plan: EdgePlan, *, run_id: str | None = None, log: Log = print
) -> dict[str, Any]:
    """Make the edge's prefill store match `plan`; returns a summary of what moved."""
    lay = edges.layout(cfg, plan.edge_id)
    run_id = run_id or uuid.uuid4().hex[:12]
    started = time.monotonic()
    with fill_lock(lay):
        shutil.rmtree(lay.fill_dir / "tmp", ignore_errors=True)  # leftovers of a killed run
        journal = Journal(journal_path(lay, plan.date), plan.edge_id, plan.date, run_id)
        moved_before = journal.moved_bytes()
        wanted = {f.path: f for f in plan.want}
        known = {f.path: f for f in plan.drop}
        held = held_files(lay)
        for rel, size in sorted(held.items()):
            if rel not in wanted:
                (lay.prefill / rel).unlink(missing_ok=True)
                f = known.get(rel) or FillFile(rel, rel.split("/")[1])
                journal.add(f, "dropped", size=size, reason=None if rel in known else "not in plan")
        _prune_empty_dirs(lay.prefill / "videos")
        held = held_files(lay)
        held_bytes = sum(held.values())
        rate = cfg.edges.fill_rate_bytes_s or lay.edge.fill_rate_gbps * 1e9 / 8
        limit = RateLimit(rate)
        moved = moved_before
        kept = 0
        stop_reason = None
        for f in plan.want:
            have = held.get(f.path)
            if have is not None and (f.bytes is None or have == f.bytes):
                kept += 1
                continue
            size = f.bytes or 0
            if stop_reason is None and moved + size > plan.budget_bytes:
                stop_reason = f"fill budget {plan.budget_bytes} B of {plan.date} reached"
            if stop_reason is None and held_bytes - (have or 0) + size > plan.capacity_bytes:
                stop_reason = f"prefill room {plan.capacity_bytes} B reached"
            if stop_reason is not None:
                journal.add(f, "deferred", size=size, reason=stop_reason)
                continue
            got = fetch_file(cfg, lay, f, journal, limit)
            moved += got
            if got:
                held_bytes += got - (have or 0)
        write_inventory(lay)
    edges.refresh(cfg, lay)  # max_size = capacity - what the store now holds
    summary = {
        "edge_id": plan.edge_id,
        "run_id": run_id,
        "kept": kept,
        "moved_bytes": moved - moved_before,
        "by_source": journal.by_source,
        "seconds": round(time.monotonic() - started, 2),
        **{r: tuple(journal.counts[r]) for r in RESULTS},
    }
    sources = ", ".join(f"{k} {v:,} B" for k, v in sorted(journal.by_source.items()))
    log(
        f"  {plan.edge_id}: filled {summary['filled'][0]} files ({sources or '0 B'}), kept {kept},"
        f" dropped {summary['dropped'][0]}, rejected {summary['rejected'][0]},"
        f" failed {summary['failed'][0]}, deferred {summary['deferred'][0]}"
        f" in {summary['seconds']:.1f}s"
    )
    return summary


def inventory_document(lay: edges.EdgeLayout) -> dict[str, Any]:
    videos: dict[str, dict[str, int]] = {}
    for rel, size in held_files(lay).items():
        entry = videos.setdefault(rel.split("/")[1], {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += size
    return {
        "edge_id": lay.edge.id,
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "videos": dict(sorted(videos.items())),
    }


def write_inventory(lay: edges.EdgeLayout) -> dict[str, Any]:
    """The edge's /inventory.json (what its prefill store holds), replaced atomically."""
    doc = inventory_document(lay)
    write_atomic(lay.prefill / "inventory.json", (json.dumps(doc, indent=1) + "\n").encode())
    return doc


def apply_saved_plans(
    cfg: Config, day: date, edge_ids: list[str] | None = None, log: Log = print
) -> list[dict[str, Any]]:
    """Apply the plans a previous `fill` wrote for `day` (no Spark needed)."""
    out = []
    for lay in edges.layouts(cfg, edge_ids):
        path = plan_path(lay, day)
        if not path.exists():
            raise VodlakeError(
                f"no fill plan of {day} for edge {lay.edge.id} ({path})",
                hint=f"run `vodlake edges fill --date {day}` once without --apply-only",
            )
        out.append(apply_plan(cfg, EdgePlan.from_json(path.read_text()), log=log))
    return out


def run_args(args: argparse.Namespace, cfg: Config) -> int:
    """`vodlake edges fill`: plan + apply + record (or only apply, with --apply-only)."""
    day = date.fromisoformat(args.date)
    if args.apply_only:
        results = apply_saved_plans(cfg, day, args.edges)
    else:
        from vodlake.delivery.fill_plan import run as plan_apply_record
        from vodlake.runtime import spark_from

        spark = spark_from(args, cfg, "vodlake-edges-fill")
        results = plan_apply_record(spark, cfg, day, args.edges)
    bad = sum(r["failed"][0] + r["rejected"][0] for r in results)
    return 1 if bad else 0
