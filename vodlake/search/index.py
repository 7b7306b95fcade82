"""Elasticsearch: es-hadoop write options, the Python client, the video index and its queries.

The video index is versioned: documents live in `<prefix>-videos-v<timestamp>` and everything
(search, sync, check) goes through the alias `<prefix>-videos`, so a full reindex builds a new
index beside the live one and swaps the alias in one atomic `_aliases` call.

The node is the integ-test distribution: no `analysis-common` (no edge-ngram or custom
analyzers) and no painless. So prefixes come from the completion suggester (core), typos from
fuzzy `multi_match`, and popularity from `function_score` with `field_value_factor`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from vodlake.config import Config, Secrets
from vodlake.errors import ServiceUnavailable, VodlakeError


def es_options(cfg: Config, id_field: str | None = None, upsert: bool = True) -> dict[str, str]:
    """Options for `df.write.format("es")` (elasticsearch-hadoop) against the configured node."""
    es = cfg.elasticsearch
    opts = {
        "es.nodes": es.host,
        "es.port": str(es.port),
        "es.nodes.wan.only": str(es.wan_only).lower(),
        "es.net.ssl": str(es.scheme == "https").lower(),
        "es.batch.write.refresh": "false",
        "es.http.timeout": f"{int(es.request_timeout_s)}s",
        "es.http.retries": "1",
        "es.batch.write.retry.count": "1",
        "es.index.auto.create": "true",
    }
    if id_field:
        opts["es.mapping.id"] = id_field
        if upsert:
            opts["es.write.operation"] = "upsert"
    secrets = Secrets.from_env()
    if secrets.es_username:
        opts["es.net.http.auth.user"] = secrets.es_username
        opts["es.net.http.auth.pass"] = secrets.es_password or ""
    return opts


def video_write_options(cfg: Config, operation: str = "upsert") -> dict[str, str]:
    """es-hadoop options for video documents: keyed by video_id, never auto-creating an index.

    Nulls are written (`es.spark.dataframe.write.null`) because an upsert merges fields: a
    description removed in the catalog must be cleared in the index, not left behind.
    Auto-create is off so a missing alias fails loudly instead of growing a dynamic mapping.
    """
    if operation not in ("upsert", "index", "delete"):
        raise ValueError(f"unsupported es-hadoop operation {operation!r}")
    opts = es_options(cfg, id_field="video_id", upsert=True)
    opts["es.write.operation"] = operation
    opts["es.index.auto.create"] = "false"
    opts["es.spark.dataframe.write.null"] = "true"
    return opts


def client(cfg: Config) -> Any:
    """An elasticsearch-py client for the configured node."""
    from elasticsearch import Elasticsearch

    secrets = Secrets.from_env()
    auth = (secrets.es_username, secrets.es_password or "") if secrets.es_username else None
    return Elasticsearch(
        cfg.elasticsearch.url,
        basic_auth=auth,
        request_timeout=cfg.elasticsearch.request_timeout_s,
    )


def index_name(cfg: Config, name: str) -> str:
    return f"{cfg.elasticsearch.index_prefix}-{name}"


# --- the video index ------------------------------------------------------------------------
ALIAS = "videos"

# Every field a video document has; `dynamic: strict` turns any other field into a write error
# (dynamic mapping off, and nothing silently dropped).
VIDEO_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "video_id": {"type": "keyword"},
        "title": {
            "type": "text",
            "fields": {"raw": {"type": "keyword", "ignore_above": 256}},
        },
        "description": {"type": "text"},
        "tags": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 128}}},
        "genres": {"type": "keyword"},
        "language": {"type": "keyword"},
        "duration_s": {"type": "double"},
        "renditions": {"type": "keyword"},
        "status": {"type": "keyword"},
        "popularity": {"type": "double"},
        "updated_at": {"type": "date"},
        # completion inputs: the title and its word suffixes, weighted by popularity
        "suggest": {"type": "completion", "analyzer": "simple"},
    },
}
VIDEO_FIELDS: tuple[str, ...] = tuple(VIDEO_MAPPING["properties"])
# One shard is plenty for a catalog; replicas follow the cluster (0 on a single local node).
VIDEO_SETTINGS: dict[str, Any] = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}

_VERSIONED = re.compile(r"-v\d{20}$")


def alias_name(cfg: Config) -> str:
    """The alias every reader and writer uses, e.g. `vodlake-videos`."""
    return index_name(cfg, ALIAS)


def new_index_name(cfg: Config, now: datetime | None = None) -> str:
    """A fresh versioned index name, e.g. `vodlake-videos-v20261126102233123456`."""
    now = now or datetime.now(timezone.utc)
    return f"{alias_name(cfg)}-v{now:%Y%m%d%H%M%S%f}"


def is_versioned_index(cfg: Config, name: str) -> bool:
    alias = alias_name(cfg)
    return name.startswith(alias + "-v") and bool(_VERSIONED.search(name))


def es_unreachable(cfg: Config, doing: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Elasticsearch at {cfg.elasticsearch.url} did not answer while {doing}",
        hint="start it with `vodlake services up` (or set elasticsearch.host/port)",
    )


@contextmanager
def es_errors(cfg: Config, doing: str) -> Iterator[None]:
    """Turn elasticsearch-py connection failures into one VodlakeError line."""
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout

    try:
        yield
    except (TransportConnectionError, ConnectionTimeout):
        raise es_unreachable(cfg, doing) from None


def create_video_index(es: Any, name: str, alias: str | None = None, bulk: bool = False) -> None:
    """Create a video index with the explicit mapping (optionally already behind `alias`).

    `bulk` turns refresh off while a full load runs; `finish_bulk_load` turns it back on.
    """
    settings = dict(VIDEO_SETTINGS)
    if bulk:
        settings["refresh_interval"] = "-1"
    es.indices.create(
        index=name,
        settings=settings,
        mappings=VIDEO_MAPPING,
        aliases={alias: {}} if alias else None,
    )


def finish_bulk_load(es: Any, name: str) -> None:
    es.indices.put_settings(index=name, settings={"index": {"refresh_interval": None}})
    es.indices.refresh(index=name)


def alias_indices(es: Any, alias: str) -> list[str]:
    """The concrete indices behind `alias` (empty when the alias does not exist)."""
    found = es.options(ignore_status=404).indices.get_alias(name=alias)
    body = found.body if hasattr(found, "body") else found
    if not isinstance(body, dict) or "error" in body or "status" in body:
        return []
    return sorted(body)


def ensure_video_alias(es: Any, cfg: Config) -> tuple[str, bool]:
    """(index behind the alias, created now): makes a first versioned index when there is none.

    `created` tells the sync that whatever it saved before no longer describes the index.
    """
    from elasticsearch import BadRequestError

    alias = alias_name(cfg)
    indices = alias_indices(es, alias)
    if len(indices) == 1:
        return indices[0], False
    if len(indices) > 1:
        raise VodlakeError(
            f"alias {alias} points at {len(indices)} indices ({', '.join(indices)})",
            hint="run `vodlake job search_reindex` to rebuild one index behind the alias",
        )
    if es.indices.exists(index=alias):
        raise VodlakeError(
            f"{alias} is a plain index, not an alias over a versioned index",
            hint="run `vodlake job search_reindex`: it replaces it with a versioned index",
        )
    name = new_index_name(cfg)
    try:
        create_video_index(es, name, alias=alias)
    except BadRequestError:  # another writer created it first
        indices = alias_indices(es, alias)
        if len(indices) != 1:
            raise
        es.options(ignore_status=404).indices.delete(index=name)
        return indices[0], False
    return name, True


def swap_alias(es: Any, cfg: Config, new_index: str) -> list[str]:
    """Point the alias at `new_index` only, in one atomic `_aliases` call; return the old ones.

    A plain index squatting on the alias name is removed in the same call (`remove_index`), so
    there is no moment where the name resolves to nothing.
    """
    alias = alias_name(cfg)
    old = [name for name in alias_indices(es, alias) if name != new_index]
    actions: list[dict[str, Any]] = [{"remove": {"index": name, "alias": alias}} for name in old]
    if not old and es.indices.exists(index=alias) and not alias_indices(es, alias):
        actions.append({"remove_index": {"index": alias}})
    actions.append({"add": {"index": new_index, "alias": alias}})
    es.indices.update_aliases(actions=actions)
    return old


def stale_versioned_indices(es: Any, cfg: Config) -> list[str]:
    """Versioned video indices the alias does not point at (left by earlier reindexes)."""
    alias = alias_name(cfg)
    live = set(alias_indices(es, alias))
    found = es.options(ignore_status=404).indices.get(index=f"{alias}-v*", expand_wildcards="open")
    body = found.body if hasattr(found, "body") else found
    return sorted(n for n in body if is_versioned_index(cfg, n) and n not in live)


# --- queries --------------------------------------------------------------------------------
SEARCH_FIELDS = ("title^3", "tags^2", "description")
SHOWN_FIELDS = (
    "video_id",
    "title",
    "genres",
    "language",
    "duration_s",
    "popularity",
    "updated_at",
    "renditions",
)


def search_body(
    text: str,
    genre: str | None = None,
    language: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    """The search request: fuzzy multi_match, keyword filters, popularity as a boost.

    Fuzziness AUTO lets a misspelled title still match; requiring most words keeps one loosely
    matched word ("lights" ~ "night") from pulling in other titles; the exact phrase earns an
    extra boost so the right title wins over near-misses. Popularity multiplies the score by
    ln(2 + p) through field_value_factor (no painless on this node), ordering similar matches.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = text.strip()
    filters: list[dict[str, Any]] = [{"term": {"status": "ready"}}]
    if genre:
        filters.append({"term": {"genres": {"value": genre, "case_insensitive": True}}})
    if language:
        filters.append({"term": {"language": {"value": language, "case_insensitive": True}}})
    if text:
        must: dict[str, Any] = {
            "multi_match": {
                "query": text,
                "fields": list(SEARCH_FIELDS),
                "type": "best_fields",
                "fuzziness": "AUTO",
                "prefix_length": 0,
                # one or two words: all must match (each may be misspelled); longer: 75%
                "minimum_should_match": "2<75%",
            }
        }
        should: list[dict[str, Any]] = [{"match_phrase": {"title": {"query": text, "boost": 2.0}}}]
    else:
        must, should = {"match_all": {}}, []
    return {
        "query": {
            "function_score": {
                "query": {"bool": {"must": [must], "should": should, "filter": filters}},
                "field_value_factor": {
                    "field": "popularity",
                    "modifier": "ln2p",
                    "factor": 1.0,
                    "missing": 0,
                },
                "boost_mode": "multiply",
            }
        },
        "size": limit,
        "_source": list(SHOWN_FIELDS),
    }


def suggest_body(prefix: str, size: int = 5, fuzzy: bool = True) -> dict[str, Any]:
    """A completion-suggester request for a title prefix (one typo tolerated after 3 chars)."""
    completion: dict[str, Any] = {"field": "suggest", "size": size, "skip_duplicates": True}
    if fuzzy:
        completion["fuzzy"] = {"fuzziness": "AUTO", "min_length": 3, "prefix_length": 1}
    return {
        "suggest": {"titles": {"prefix": prefix, "completion": completion}},
        "_source": ["video_id", "title", "popularity"],
    }


def search_videos(
    es: Any,
    cfg: Config,
    text: str,
    genre: str | None = None,
    language: str | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Hits for `text` through the alias: [{"score", "video_id", "title", ...}, ...]."""
    body = search_body(text, genre=genre, language=language, limit=limit)
    with es_errors(cfg, "searching"), _missing_index(cfg):
        res = es.search(index=alias_name(cfg), **body)
    return [{"score": hit["_score"], **hit["_source"]} for hit in res["hits"]["hits"]]


def suggest_titles(es: Any, cfg: Config, prefix: str, size: int = 5) -> list[dict[str, Any]]:
    """Titles completing `prefix`, best first: [{"text", "video_id", "title", "score"}, ...]."""
    if not prefix.strip():
        raise VodlakeError("suggest needs a prefix", hint='e.g. vodlake search suggest "oce"')
    with es_errors(cfg, "suggesting titles"), _missing_index(cfg):
        res = es.search(index=alias_name(cfg), size=0, **suggest_body(prefix.strip(), size))
    options = res["suggest"]["titles"][0]["options"]
    return [
        {"text": opt["text"], "score": opt["_score"], **opt.get("_source", {})} for opt in options
    ]


@contextmanager
def _missing_index(cfg: Config) -> Iterator[None]:
    from elasticsearch import NotFoundError

    try:
        yield
    except NotFoundError:
        raise VodlakeError(
            f"there is no search index yet ({alias_name(cfg)} does not exist)",
            hint="sync the catalog: `vodlake job search_sync` (or `vodlake job search_reindex`)",
        ) from None
