"""Demo stage: sync the catalog to Elasticsearch, then find a video by a misspelled title.

Wired into jobs/demo.py STAGES as ("search: catalog -> Elasticsearch", stage).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from vodlake.lake.tables import Tables
from vodlake.search.index import alias_name, client, search_videos, suggest_titles
from vodlake.search.sync import check_index, sync_search


def misspell(title: str) -> str:
    """Swap two inner letters of the title's longest word ("Ocean Deep" -> "Ocaen Deep"): the
    kind of typo a person makes, and one edit away, so fuzzy search must still find it."""
    words = title.split()
    if not words:
        return title
    i = max(range(len(words)), key=lambda k: (len(words[k]), -k))
    word = words[i]
    if len(word) >= 4:
        mid = len(word) // 2
        word = word[: mid - 1] + word[mid] + word[mid - 1] + word[mid + 1 :]
    elif len(word) >= 2:
        word = word + word[-1]  # too short to swap inside: double the last letter
    words[i] = word
    return " ".join(words)


def stage(ctx: Any) -> list[tuple[str, object]]:
    cfg, spark = ctx.cfg, ctx.spark
    tables = Tables(cfg)
    if not tables.exists(spark, "videos"):
        ctx.log("search: there is no videos catalog yet, nothing to sync")
        return [("search: videos catalog", "not created yet (no uploads)")]

    def progress(name: str, info: dict[str, Any]) -> None:
        if name in ("upsert", "delete"):
            ctx.log(f"search sync: {name} {info['documents']} documents")

    result = sync_search(spark, cfg, progress=progress)
    source = (
        "up to date"
        if result.mode == "up-to-date"
        else f"{result.upserted} upserted, {result.deleted} deleted"
    )
    rows: list[tuple[str, object]] = [
        (f"search sync to videos version {result.to_version}", source),
    ]
    es = client(cfg)
    rows.append((f"documents behind {alias_name(cfg)}", es.count(index=alias_name(cfg))["count"]))
    pick = (
        tables.read(spark, "videos")
        .where((F.col("status") == "ready") & (F.length(F.trim("title")) >= 4))
        .orderBy(F.col("updated_at").desc(), "video_id")
        .select("video_id", "title")
        .first()
    )
    if pick is None:
        ctx.log("search: no ready videos with a title in the catalog, nothing to search for")
        rows.append(("search: ready videos", "none yet: nothing to search for"))
        return rows
    typo = misspell(pick["title"])
    hits = search_videos(es, cfg, typo, limit=3)
    top = hits[0] if hits else None
    if top and top["video_id"] == pick["video_id"]:
        found = f"{top['title']} ({top['video_id']}), the right video"
    else:
        found = f"NOT the right video: top hit {top['title'] if top else 'none'}"
    ctx.log(f"search {typo!r} (a typo of {pick['title']!r}) -> {found}")
    prefix = pick["title"].strip()[:3]
    completions = [o["title"] for o in suggest_titles(es, cfg, prefix, size=3)]
    check = check_index(spark, cfg)
    differences = len(check.missing) + len(check.extra) + len(check.stale)
    rows += [
        (f"search {typo!r}", found),
        (f"suggest {prefix!r}", ", ".join(completions) or "no completion"),
        ("search check differences", differences),
    ]
    return rows
