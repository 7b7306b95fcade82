"""`vodlake simulate-playback`: a deterministic playback history to Kafka and/or JSON lines files.

The catalog is the lake's ready videos (Delta `videos` + `segments`, read with Spark only when
those tables exist), else a synthetic one. Events go to the `playback` topic keyed by
session_id (so a session keeps its order within one partition), optionally rate limited, and/or
to JSON lines files. The same seed, catalog and topology give the same events, event ids
included, so producing a run twice produces exact duplicates (which silver removes).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, TextIO

from vodlake.errors import VodlakeError
from vodlake.runtime import add_set_option
from vodlake.telemetry import generator as ps
from vodlake.telemetry.sim_catalog import DEFAULT_SYNTHETIC_VIDEOS, load_catalog

# ----------------------------------------------------------------------------------------------
# Producing


def throttle(
    events: Iterable[dict[str, Any]],
    rate: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield events no faster than `rate` per second on average (None: as fast as possible)."""
    if rate is None:
        yield from events
        return
    if not rate > 0:
        raise VodlakeError(f"--rate must be positive (got {rate})")
    start = clock()
    for n, event in enumerate(events):
        due = start + n / rate
        now = clock()
        if due > now:
            sleep(due - now)
        yield event


class _Tally:
    """Counts what passes through, for the closing summary."""

    def __init__(self) -> None:
        self.events = 0
        self.by_type: Counter[str] = Counter()
        self.sessions: set[str] = set()
        self.first: str | None = None
        self.last: str | None = None

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            self.events += 1
            self.by_type[event["event_type"]] += 1
            self.sessions.add(event["session_id"])
            when = event["event_time"]
            self.first = when if self.first is None or when < self.first else self.first
            self.last = when if self.last is None or when > self.last else self.last
            yield event


def _parse_start(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise VodlakeError(f"--start {text!r} is not a date", hint="use YYYY-MM-DD") from None
    return day.replace(tzinfo=timezone.utc)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate viewing sessions (Zipf popularity with drift and release spikes, diurnal "
        "load, early abandonment, ABR switches, one request per chunk, edge steering) and send "
        "the events to Kafka keyed by session_id and/or write JSON lines files."
    )
    parser.add_argument("--days", type=int, required=True, metavar="N")
    parser.add_argument("--sessions-per-day", type=int, required=True, metavar="K")
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="same seed, same events")
    parser.add_argument("--rate", type=float, default=None, metavar="R", help="events/s to Kafka")
    parser.add_argument("--out", default=None, metavar="DIR", help="also write JSON lines here")
    parser.add_argument("--no-kafka", action="store_true", help="only write files (needs --out)")
    parser.add_argument("--topic", default=None, help="default: kafka.topics.playback")
    parser.add_argument(
        "--start",
        default=ps.DEFAULT_START.strftime("%Y-%m-%d"),
        metavar="YYYY-MM-DD",
        help="first simulated day, UTC (default %(default)s)",
    )
    parser.add_argument(
        "--videos",
        type=int,
        default=DEFAULT_SYNTHETIC_VIDEOS,
        help="size of the synthetic catalog when the lake has no ready videos",
    )
    parser.add_argument(
        "--synthetic", action="store_true", help="use a synthetic catalog even if the lake has one"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files in --out")
    parser.add_argument(
        "--rows-per-file", type=int, default=1_000_000, help="JSON lines per file in --out"
    )
    add_set_option(parser, "kafka.bootstrap_servers=127.0.0.1:9092")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from vodlake.lake import kafka_io
    from vodlake.runtime import config_from

    out = out if out is not None else sys.stdout

    def log(msg: str) -> None:
        out.write(msg + "\n")
        out.flush()

    if args.no_kafka and not args.out:
        raise VodlakeError("--no-kafka leaves nowhere to write", hint="add --out DIR")
    if not _rate_ok(args.rate):
        raise VodlakeError(f"--rate must be a positive number (got {args.rate})")
    start = _parse_start(args.start)
    cfg = config_from(args)
    catalog, where = load_catalog(
        cfg, videos=args.videos, seed=args.seed, synthetic=args.synthetic, log=log
    )
    log(f"catalog: {where}")

    def events() -> Iterator[dict[str, Any]]:
        return ps.generate(
            catalog, cfg.topology, args.days, args.sessions_per_day, args.seed, start
        )

    events()  # validates the arguments before anything is written or sent
    end = start.timestamp() + args.days * 86_400
    if end > time.time():
        log(
            "note: the history reaches past now; events later than arrival + "
            f"{cfg.playback.future_skew_s} s will be quarantined as future_timestamp"
        )
    tally = _Tally()
    if args.out:
        files = ps.write_jsonl(
            tally.watch(events()), args.out, args.rows_per_file, overwrite=args.overwrite
        )
        log(f"wrote {tally.events:,} events to {len(files)} file(s) in {args.out}")
    if not args.no_kafka:
        topic = args.topic or cfg.kafka.topics.playback
        kafka_io.ensure_topic(cfg, topic)
        stream = events() if args.out else tally.watch(events())
        t0 = time.monotonic()

        def progress(n: int) -> None:
            elapsed = max(time.monotonic() - t0, 1e-9)
            log(f"  sent {n:,} events ({n / elapsed:,.0f}/s)")

        rate = f" at most {args.rate:,.0f} events/s" if args.rate else ""
        log(f"producing to Kafka topic '{topic}' keyed by session_id{rate}")
        sent = kafka_io.produce(
            cfg, topic, throttle(stream, args.rate), key="session_id", progress=progress
        )
        elapsed = max(time.monotonic() - t0, 1e-9)
        log(f"sent {sent:,} events in {elapsed:.1f} s ({sent / elapsed:,.0f}/s)")
    types = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.by_type.items()))
    log(
        f"{tally.events:,} events ({types}) in {len(tally.sessions):,} sessions, "
        f"{tally.first} .. {tally.last}"
    )
    return 0


def _rate_ok(rate: float | None) -> bool:
    return rate is None or (math.isfinite(rate) and rate > 0)


__all__ = ["configure", "run", "throttle"]
