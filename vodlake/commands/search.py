"""`vodlake search`: find videos, complete titles, and check the index against the catalog.

    vodlake search "ocean deep" [--genre G] [--language L] [--limit N] [--json]
    vodlake search suggest PREFIX [--limit N] [--json]
    vodlake search check [--json]

The first word picks the action: `check` and `suggest` are actions, anything else is search
text (search for the literal word "check" with `-q check`). Searching and suggesting use
elasticsearch-py only; `check` reads the catalog with Spark.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from vodlake.config import Config, load_config
from vodlake.errors import VodlakeError
from vodlake.runtime import add_set_option, overrides_from

ACTIONS = ("check", "suggest")
MAX_LIMIT = 1000
SHOWN_DIFFERENCES = 20


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Search the video catalog (typo tolerant, popular videos first), complete a title "
        "prefix (`suggest PREFIX`), or compare the index with the catalog (`check`, exits 1 on "
        "any difference)."
    )
    parser.add_argument(
        "words", nargs="*", metavar="QUERY", help="search text, or `check`, or `suggest PREFIX`"
    )
    parser.add_argument("-q", "--query", help="search text, taken literally (even `check`)")
    parser.add_argument("--genre", help="only videos with this genre")
    parser.add_argument("--language", help="only videos in this language (e.g. en)")
    parser.add_argument("--limit", type=int, default=10, help="results to show (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_set_option(parser, "elasticsearch.port=9201")


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.env or None, overrides=overrides_from(args.overrides or []))


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    if not 1 <= args.limit <= MAX_LIMIT:
        raise VodlakeError(f"--limit must be between 1 and {MAX_LIMIT}, got {args.limit}")
    words = list(args.words)
    action = words[0] if words and args.query is None and words[0] in ACTIONS else "search"
    if action == "check":
        if len(words) > 1 or args.genre or args.language:
            raise VodlakeError(
                "`vodlake search check` takes no query or filters",
                hint='to search for the word, use `vodlake search -q "check ..."`',
            )
        return _check(_config(args), args.json, out)
    if action == "suggest":
        if args.genre or args.language:
            raise VodlakeError("suggest takes no filters", hint="drop --genre/--language")
        return _suggest(_config(args), " ".join(words[1:]), args.limit, args.json, out)
    text = args.query if args.query is not None else " ".join(words)
    if not text.strip() and not (args.genre or args.language):
        raise VodlakeError(
            "nothing to search for",
            hint='give a query (vodlake search "ocean"), a filter (--genre drama), '
            "`suggest PREFIX` or `check`",
        )
    return _search(_config(args), text, args.genre, args.language, args.limit, args.json, out)


# --- search and suggest ---------------------------------------------------------------------
def _search(
    cfg: Config,
    text: str,
    genre: str | None,
    language: str | None,
    limit: int,
    as_json: bool,
    out: TextIO,
) -> int:
    from vodlake.search.index import client, search_videos

    hits = search_videos(client(cfg), cfg, text, genre=genre, language=language, limit=limit)
    if as_json:
        out.write(json.dumps(hits) + "\n")
        return 0
    if not hits:
        filters = ", ".join(f for f in (genre and f"genre {genre}", language) if f)
        out.write(f"no videos match {text!r}" + (f" ({filters})" if filters else "") + "\n")
        return 0
    out.write(format_hits(hits))
    return 0


def _suggest(cfg: Config, prefix: str, limit: int, as_json: bool, out: TextIO) -> int:
    from vodlake.search.index import client, suggest_titles

    options = suggest_titles(client(cfg), cfg, prefix, size=limit)
    if as_json:
        out.write(json.dumps(options) + "\n")
    elif not options:
        out.write(f"no titles complete {prefix!r}\n")
    else:
        rows = [("title", "video_id", "matched")]
        rows += [(str(o.get("title")), str(o.get("video_id")), o["text"]) for o in options]
        out.write(format_rows(rows, align="<<<"))
    return 0


def _cut(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_hits(hits: list[dict[str, Any]]) -> str:
    """A readable table of search hits, best first."""
    rows = [("#", "score", "video_id", "title", "genres", "lang", "duration", "popularity")]
    for rank, hit in enumerate(hits, 1):
        duration = hit.get("duration_s")
        rows.append(
            (
                str(rank),
                f"{hit['score']:.2f}",
                _cut(hit.get("video_id"), 24),
                _cut(hit.get("title"), 40),
                _cut(", ".join(hit.get("genres") or []), 24),
                str(hit.get("language") or "-"),
                f"{duration:.1f}s" if isinstance(duration, (int, float)) else "-",
                f"{hit.get('popularity') or 0:.1f}",
            )
        )
    return format_rows(rows, align=">><<<<>>")


def format_rows(rows: list[tuple[str, ...]], align: str) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


# --- check ----------------------------------------------------------------------------------
def _check(cfg: Config, as_json: bool, out: TextIO) -> int:
    from vodlake.lake.session import get_spark
    from vodlake.search.sync import check_index

    spark = get_spark(cfg, app_name="vodlake-search-check")
    result = check_index(spark, cfg)
    if as_json:
        out.write(json.dumps({**result.__dict__, "ok": result.ok}) + "\n")
        return 0 if result.ok else 1
    out.write(format_check(result))
    return 0 if result.ok else 1


def format_check(result: Any) -> str:
    """The check report: where each side stands, then every kind of difference."""
    index = ", ".join(result.indices) or "no index"
    lines = [
        f"catalog: {result.catalog_ready} ready videos at videos version "
        f"{'-' if result.catalog_version is None else result.catalog_version} "
        f"(search synced to {'-' if result.synced_version is None else result.synced_version})",
        f"index:   {result.indexed} documents in {result.alias} -> {index}",
    ]
    if result.ok:
        lines.append("no differences")
        return "\n".join(lines) + "\n"

    def some(ids: list[str]) -> str:
        more = len(ids) - SHOWN_DIFFERENCES
        return ", ".join(ids[:SHOWN_DIFFERENCES]) + (f" ... and {more} more" if more > 0 else "")

    if result.missing:
        lines.append(f"ready in the catalog, missing from the index ({len(result.missing)}):")
        lines.append("  " + some(result.missing))
    if result.extra:
        lines.append(f"in the index, not ready in the catalog ({len(result.extra)}):")
        lines.append("  " + some(result.extra))
    if result.stale:
        lines.append(f"updated_at differs ({len(result.stale)}):")
        for vid, catalog, indexed in result.stale[:SHOWN_DIFFERENCES]:
            lines.append(f"  {vid}: catalog {catalog}, index {indexed}")
        if len(result.stale) > SHOWN_DIFFERENCES:
            lines.append(f"  ... and {len(result.stale) - SHOWN_DIFFERENCES} more")
    total = len(result.missing) + len(result.extra) + len(result.stale)
    lines.append(
        f"{total} differences: run `vodlake job search_sync` (or `vodlake job search_reindex`)"
    )
    return "\n".join(lines) + "\n"


__all__ = ["configure", "format_check", "format_hits", "format_rows", "run"]
