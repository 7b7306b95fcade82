"""Producing JSON events to Kafka and managing topics with kafka-python (driver side only)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from vodlake.config import Config
from vodlake.errors import ServiceUnavailable


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), default=_json_default).encode()


def ensure_topic(cfg: Config, topic: str, partitions: int | None = None) -> None:
    """Create `topic` with the configured partitions unless it exists."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import NoBrokersAvailable, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers, client_id="vodlake")
    except NoBrokersAvailable:
        raise ServiceUnavailable(
            f"Kafka is not reachable at {cfg.kafka.bootstrap_servers}",
            hint="start it with `vodlake services up`",
        ) from None
    try:
        if topic in admin.list_topics():
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: fine
            admin.create_topics(
                [NewTopic(topic, partitions or cfg.kafka.partitions, replication_factor=1)]
            )
    finally:
        admin.close()


def produce(
    cfg: Config,
    topic: str,
    records: Iterable[dict[str, Any]],
    key: Callable[[dict[str, Any]], str] | str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send JSON records keyed by `key` (a field name or a function); return how many were acked.

    The key decides the partition, so all events of one key (a video, a session) keep their order.
    """
    from kafka import KafkaProducer
    from kafka.errors import NoBrokersAvailable

    key_of = (lambda r: str(r[key])) if isinstance(key, str) else key
    try:
        producer = KafkaProducer(
            bootstrap_servers=cfg.kafka.bootstrap_servers,
            acks="all",
            linger_ms=20,
            batch_size=256 * 1024,
            compression_type=None,
            max_in_flight_requests_per_connection=1,  # keep per-key order across retries
            retries=5,
        )
    except NoBrokersAvailable:
        raise ServiceUnavailable(
            f"Kafka is not reachable at {cfg.kafka.bootstrap_servers}",
            hint="start it with `vodlake services up`",
        ) from None
    sent = 0
    futures = []
    try:
        for record in records:
            futures.append(producer.send(topic, key=key_of(record).encode(), value=encode(record)))
            sent += 1
            if progress and sent % 10_000 == 0:
                progress(sent)
        producer.flush()
        for fut in futures:
            fut.get(timeout=30)  # raises if any send failed: nothing is lost silently
    finally:
        producer.close()
    return sent


def end_offsets(cfg: Config, topic: str) -> dict[int, int]:
    """Latest offset per partition of `topic` (what a consumer must reach to be caught up)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def delete_topic(cfg: Config, topic: str, timeout_s: float = 30.0) -> bool:
    """Delete `topic` if it exists and wait until the broker no longer lists it."""
    import time

    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        if topic not in admin.list_topics():
            return False
        admin.delete_topics([topic])
        deadline = time.monotonic() + timeout_s
        while topic in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.3)
        return True
    finally:
        admin.close()
