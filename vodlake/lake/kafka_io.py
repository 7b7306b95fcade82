"""Producing JSON events to Kafka and managing topics with kafka-python (driver side only)."""

from __future__ import annotations

import contextlib
import json
import time
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


def replication(cfg: Config, live_brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a new topic: min(3, brokers), and 2 in
    sync from three copies on, so an acks=all write survives the loss of any one broker.

    Brokers = the larger of the configured local cluster size and what the cluster reports: a
    local cluster with a broker down refuses the topic rather than create it short of copies.
    """
    replicas = min(3, max(cfg.services.kafka.brokers, live_brokers))
    return replicas, 2 if replicas >= 3 else 1


# How long a topic check rides out retriable admin errors (a leader election takes ~10 s).
ADMIN_RETRY_S = 30.0
TOPIC_READY_S = 30.0  # a new topic's partitions have leaders well within this


def ensure_topic(cfg: Config, topic: str, partitions: int | None = None) -> None:
    """Create `topic` with the configured partitions and replication unless it exists.

    Why the retry: kafka-python's admin client sends a request to one node it picks and raises
    a retriable error (e.g. NodeNotReadyError) when that node has just died, instead of asking
    another; a broker down in a replicated cluster must not fail an upload (test_faults.py)."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + ADMIN_RETRY_S
    while True:
        try:
            return _ensure_topic_once(cfg, topic, partitions)
        except KafkaError as exc:
            if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _ensure_topic_once(cfg: Config, topic: str, partitions: int | None) -> None:
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
        brokers = len(admin.describe_cluster().get("brokers", []))
        replicas, min_isr = replication(cfg, brokers)
        new = NewTopic(
            topic,
            partitions or cfg.kafka.partitions,
            replication_factor=replicas,
            topic_configs={"min.insync.replicas": str(min_isr)},
        )
        with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: fine
            admin.create_topics([new])
        _await_leaders(admin, topic, new.num_partitions)
    finally:
        admin.close()


def _await_leaders(admin: Any, topic: str, partitions: int) -> None:
    """Return once the brokers' metadata shows every partition of a new `topic` with a leader.

    CreateTopics answers when the controller has made the topic; the brokers learn of it a
    moment later, and a describe or a send that reaches one of them first finds no such topic
    (a test on a loaded machine saw none of its three partitions right after creating them).
    """
    deadline = time.monotonic() + TOPIC_READY_S
    while True:
        described = admin.describe_topics([topic])
        parts = described[0].get("partitions", []) if described else []
        if len(parts) >= partitions and all(p.get("leader", -1) >= 0 for p in parts):
            return
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"Kafka created topic {topic!r} but shows {len(parts)} of its {partitions}"
                f" partitions with a leader after {TOPIC_READY_S:.0f} s",
                hint="check the brokers with `vodlake services status`",
            )
        time.sleep(0.1)


def produce(
    cfg: Config,
    topic: str,
    records: Iterable[dict[str, Any]],
    key: Callable[[dict[str, Any]], str] | str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send JSON records keyed by `key` (a field name or a function); return how many were acked.

    The key decides the partition, so all events of one key (a video, a session) keep their order.
    acks=all + idempotence: a record is acknowledged once every in-sync replica has it, and a
    retry after a lost acknowledgement (a broker dying mid-request) is not written twice.
    """
    from kafka import KafkaProducer
    from kafka.errors import NoBrokersAvailable

    key_of = (lambda r: str(r[key])) if isinstance(key, str) else key
    try:
        producer = KafkaProducer(
            bootstrap_servers=cfg.kafka.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            batch_size=256 * 1024,
            compression_type=None,
            max_in_flight_requests_per_connection=1,  # keep per-key order across retries
            # retry through a leader election; give up (and raise below) after two minutes
            delivery_timeout_ms=120_000,
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
