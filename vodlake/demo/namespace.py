"""The demo's own namespace, so `vodlake demo` can never touch production data.

Every name the demo writes (Kafka topics, Delta tables and checkpoints, the origin prefix,
reports, Elasticsearch indices) is derived here from the configured one by adding a demo
prefix, on every environment. The demo resets only what `owned_*` accepts: names inside that
namespace and equal to no configured production name.
"""

from __future__ import annotations

from vodlake.config import Config
from vodlake.errors import VodlakeError

PREFIX = "demo"


def _root(uri: str) -> str:
    return f"{uri.rstrip('/')}/{PREFIX}"


def demo_config(cfg: Config) -> Config:
    """`cfg` with every topic, path and index prefix moved into the demo namespace."""
    home = _root(cfg.paths.home)
    origin = _root(cfg.paths.origin)
    paths = cfg.paths.model_copy(
        update={
            "home": home,
            "lake": f"{home}/lake",
            "checkpoints": f"{home}/checkpoints",
            "work": f"{home}/work",
            "reports": f"{home}/reports",
            "origin": origin,
            "uploads": f"{origin}/uploads",
        }
    )
    topics = cfg.kafka.topics.model_copy(
        update={k: f"{PREFIX}.{v}" for k, v in cfg.kafka.topics.model_dump().items()}
    )
    kafka = cfg.kafka.model_copy(update={"topics": topics})
    es = cfg.elasticsearch.model_copy(
        update={"index_prefix": f"{cfg.elasticsearch.index_prefix}-{PREFIX}"}
    )
    return cfg.model_copy(update={"paths": paths, "kafka": kafka, "elasticsearch": es})


def is_demo(cfg: Config) -> bool:
    return cfg.elasticsearch.index_prefix.endswith(f"-{PREFIX}") and all(
        t.startswith(f"{PREFIX}.") for t in cfg.kafka.topics.model_dump().values()
    )


def owned_topic(demo: Config, production: Config, topic: str) -> str:
    """`topic` if the demo may delete it, else a VodlakeError (never a production topic)."""
    if not topic.startswith(f"{PREFIX}.") or topic in production.kafka.topics.model_dump().values():
        raise VodlakeError(f"the demo refuses to delete topic '{topic}': not in its namespace")
    return topic


def owned_path(demo: Config, production: Config, uri: str) -> str:
    """`uri` if it lies under the demo's home or origin prefix and holds no production path."""
    roots = (demo.paths.home.rstrip("/") + "/", demo.paths.origin.rstrip("/") + "/")
    prod = [p.rstrip("/") for k, p in production.paths.model_dump().items() if k != "home"]
    inside = uri.startswith(roots)
    # a production path equal to the uri or below it would be deleted with it
    covers_prod = any(p == uri.rstrip("/") or p.startswith(uri.rstrip("/") + "/") for p in prod)
    if not inside or covers_prod:
        raise VodlakeError(f"the demo refuses to delete '{uri}': not in its namespace")
    return uri


def owned_index(demo: Config, production: Config, index: str) -> str:
    """`index` if it carries the demo's index prefix (never the production prefix alone)."""
    demo_prefix = demo.elasticsearch.index_prefix + "-"
    if not index.startswith(demo_prefix) or demo_prefix == production.elasticsearch.index_prefix:
        raise VodlakeError(f"the demo refuses to delete index '{index}': not in its namespace")
    return index
