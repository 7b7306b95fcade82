"""Start, stop and check the local Kafka broker, Elasticsearch node and S3 object store
(127.0.0.1, no Docker)."""

from __future__ import annotations

from collections.abc import Iterable

from vodlake.config import Config
from vodlake.errors import ServiceUnavailable
from vodlake.services.common import ServiceStatus
from vodlake.services.elasticsearch import ElasticsearchService
from vodlake.services.kafka import KafkaService
from vodlake.services.objectstore import ObjectStoreService

SERVICE_NAMES = ("kafka", "elasticsearch", "objectstore")
_LABELS = {"kafka": "Kafka", "elasticsearch": "Elasticsearch", "objectstore": "The object store"}


def _service(cfg: Config, name: str) -> KafkaService | ElasticsearchService | ObjectStoreService:
    if name == "objectstore":
        return ObjectStoreService(cfg)
    return KafkaService(cfg) if name == "kafka" else ElasticsearchService(cfg)


def up(cfg: Config, names: Iterable[str] = SERVICE_NAMES) -> list[str]:
    """Start each service unless it is healthy already; return the names this call started."""
    return [name for name in names if _service(cfg, name).up()]


def down(cfg: Config, names: Iterable[str] = SERVICE_NAMES) -> list[str]:
    """Stop what `up` started (by pid file); return the names that were stopped."""
    return [name for name in names if _service(cfg, name).down()]


def status(cfg: Config, names: Iterable[str] = SERVICE_NAMES) -> list[ServiceStatus]:
    return [_service(cfg, name).status() for name in names]


def fetch(cfg: Config, names: Iterable[str] = SERVICE_NAMES) -> list[str]:
    """Download service artifacts from Maven Central; return the names that downloaded."""
    return [name for name in names if _service(cfg, name).fetch()]


_HINTS = {
    "kafka": "start it with `vodlake services up` (or point kafka.bootstrap_servers at a broker)",
    "elasticsearch": "start it with `vodlake services up` (or set elasticsearch.host/port)",
    "objectstore": "start it with `vodlake services up` (or set objectstore.endpoint)",
}


def require(cfg: Config, names: Iterable[str], start: bool | None = None) -> list[str]:
    """Make sure the services answer: start them when allowed, else fail with a clear message.

    Returns the names this call started, so a caller that started them can stop them again.
    """
    start = cfg.services.autostart if start is None else start
    started: list[str] = []
    for name in names:
        svc = _service(cfg, name)
        if svc.healthy():
            continue
        if not start:
            raise ServiceUnavailable(
                f"{_LABELS[name]} is not reachable at {svc.address}", hint=_HINTS[name]
            )
        if svc.up():
            started.append(name)
    return started
