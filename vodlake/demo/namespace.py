"""The demo's own namespace, so `vodlake demo` can never touch production data.

Every name the demo writes (Kafka topics, Delta tables and checkpoints, the origin prefix,
reports, Elasticsearch indices) is derived here from the configured one by adding a demo
prefix, on every environment. The demo resets only what `owned_*` accepts: names inside that
namespace and equal to (or, for paths, holding) no configured production name.
"""

from __future__ import annotations

from dataclasses import dataclass

from vodlake.config import Config
from vodlake.errors import VodlakeError

PREFIX = "demo"


def _root(uri: str, prefix: str = PREFIX) -> str:
    return f"{uri.rstrip('/')}/{prefix}"


def demo_config(cfg: Config, prefix: str = PREFIX) -> Config:
    """`cfg` with every topic, path and index prefix moved into the demo namespace (or another
    namespace named `prefix`, e.g. `vodlake loop`'s)."""
    home = _root(cfg.paths.home, prefix)
    origin = _root(cfg.paths.origin, prefix)
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
        update={k: f"{prefix}.{v}" for k, v in cfg.kafka.topics.model_dump().items()}
    )
    kafka = cfg.kafka.model_copy(update={"topics": topics})
    # in front, not behind: `<prefix>-demo-*` would overlap production's `<prefix>-*` names
    es = cfg.elasticsearch.model_copy(
        update={"index_prefix": f"{prefix}-{cfg.elasticsearch.index_prefix}"}
    )
    return cfg.model_copy(update={"paths": paths, "kafka": kafka, "elasticsearch": es})


def owned_topic(demo: Config, production: Config, topic: str) -> str:
    """`topic` if the demo may delete it, else a VodlakeError (never a production topic)."""
    if not topic.startswith(f"{PREFIX}.") or topic in production.kafka.topics.model_dump().values():
        raise VodlakeError(f"the demo refuses to delete topic '{topic}': not in its namespace")
    return topic


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def owned_path(demo: Config, production: Config, uri: str) -> str:
    """`uri` if it lies under the demo's home or origin prefix, holds no production path and
    lies inside none of production's data folders (lake, checkpoints, uploads, work, reports).

    Production's home and origin hold the demo's own roots, so only those two may contain it.
    """
    target = uri.rstrip("/")
    roots = (demo.paths.home.rstrip("/"), demo.paths.origin.rstrip("/"))
    prod = {k: p.rstrip("/") for k, p in production.paths.model_dump().items() if k != "home"}
    inside_demo = any(target.startswith(root + "/") for root in roots)
    holds_prod = any(_within(p, target) for p in prod.values())
    in_prod_data = any(_within(target, p) for k, p in prod.items() if k != "origin")
    if not inside_demo or holds_prod or in_prod_data:
        raise VodlakeError(f"the demo refuses to delete '{uri}': not in its namespace")
    return uri


def owned_index(demo: Config, production: Config, index: str) -> str:
    """`index` if it carries the demo's index prefix and none of production's names."""
    prod = production.elasticsearch.index_prefix
    inside = index.startswith(demo.elasticsearch.index_prefix + "-")
    if not inside or index == prod or index.startswith(prod + "-"):
        raise VodlakeError(f"the demo refuses to delete index '{index}': not in its namespace")
    return index


@dataclass(frozen=True)
class DemoResources:
    """What a demo stage deletes before it runs, so each run starts from empty."""

    topics: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    indices: tuple[str, ...] = ()


def check_owned(demo: Config, production: Config, resources: DemoResources) -> DemoResources:
    """`resources` if the demo owns every one of them, else a VodlakeError naming the first that
    it does not (checked before anything is deleted)."""
    for topic in resources.topics:
        owned_topic(demo, production, topic)
    for uri in resources.paths:
        owned_path(demo, production, uri)
    for index in resources.indices:
        owned_index(demo, production, index)
    return resources
