"""Elasticsearch: es-hadoop write options and the Python client, in one place."""

from __future__ import annotations

from typing import Any

from vodlake.config import Config, Secrets


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
