"""Local KRaft Kafka on 127.0.0.1 from Maven Central jars (no Docker): one broker, or N.

`services.kafka.brokers` = N combined broker+controller nodes with a static quorum
(`controller.quorum.voters`, so a plain `format`). Broker i (1-based) listens on
`port + 10*(i-1)`, its controller on `controller_port + 10*(i-1)`, and keeps its files in
`<state_dir>/kafka/broker-<i>` (one broker keeps the original `<state_dir>/kafka` layout). From
three brokers on, internal topics get three replicas and `min.insync.replicas=2`, the settings
under which an `acks=all` producer loses nothing when one broker dies.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodlake import versions
from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.services.common import (
    NodeStatus,
    ServiceStatus,
    cmdline,
    find_java,
    maven_copy_dependencies,
    port_open,
    read_pid,
    start_process,
    stop_processes,
    wait_for_nodes,
)

NAME = "kafka"
MARKER = "kafka.Kafka"
PORT_STEP = 10


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `brokers`.

    Three copies and two in sync: an `acks=all` write is on two brokers before it is
    acknowledged, and the partition keeps taking writes with one broker down.
    """
    replicas = min(3, brokers)
    return replicas, 2 if replicas >= 3 else 1


@dataclass(frozen=True)
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    state: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.state / "kafka.pid"

    @property
    def log(self) -> Path:
        return self.state / "kafka.log"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def props(self) -> Path:
        return self.state / "server.properties"

    def pid(self) -> int | None:
        """The broker's pid while it runs (the pid file names a live kafka.Kafka process)."""
        pid = read_pid(self.pidfile)
        return pid if pid is not None and MARKER in cmdline(pid) else None

    def quorum_state(self) -> dict[str, Any]:
        """KRaft's persisted election state of this node (leaderId, leaderEpoch), or {}."""
        try:
            return json.loads((self.data / "__cluster_metadata-0" / "quorum-state").read_text())
        except (OSError, ValueError):
            return {}


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


class KafkaService:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.svc = cfg.services.kafka
        self.count = self.svc.brokers
        self.state = Path(cfg.services.state_dir) / "kafka"
        self.lib = Path(cfg.services.cache_dir) / f"kafka-{versions.KAFKA_VERSION}" / "lib"
        self.nodes = [self._node(i) for i in range(1, self.count + 1)]
        # the single-broker paths, kept for callers of the one-node layout
        self.pidfile = self.nodes[0].pidfile
        self.log = self.nodes[0].log

    def _node(self, i: int) -> KafkaNode:
        step = PORT_STEP * (i - 1)
        state = self.state if self.count == 1 else self.state / f"broker-{i}"
        return KafkaNode(i, self.svc.port + step, self.svc.controller_port + step, state)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    @property
    def address(self) -> str:
        """Every broker, as `kafka.bootstrap_servers` should list them."""
        return ",".join(n.address for n in self.nodes)

    def fetch(self) -> bool:
        """Resolve the broker jars from Maven Central once; True when it downloaded."""
        if self.lib.exists() and any(self.lib.glob("kafka_*.jar")):
            return False
        maven_copy_dependencies(versions.KAFKA_ARTIFACTS, self.lib, self.lib.parent / "mvn")
        return True

    # --- config and storage ----------------------------------------------------------------
    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    def _write_config(self, node: KafkaNode) -> None:
        node.state.mkdir(parents=True, exist_ok=True)
        replicas, min_isr = replication_for(self.count)
        node.props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={node.node_id}",
                    f"controller.quorum.voters={self.voters}",
                    f"listeners=PLAINTEXT://{node.address},CONTROLLER://127.0.0.1:"
                    f"{node.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{node.address}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={node.data}",
                    f"num.partitions={self.cfg.kafka.partitions}",
                    f"default.replication.factor={replicas}",
                    f"min.insync.replicas={min_isr}",
                    "unclean.leader.election.enable=false",
                    f"offsets.topic.replication.factor={replicas}",
                    "offsets.topic.num.partitions=4",
                    f"transaction.state.log.replication.factor={replicas}",
                    f"transaction.state.log.min.isr={min_isr}",
                    f"share.coordinator.state.topic.replication.factor={replicas}",
                    f"share.coordinator.state.topic.min.isr={min_isr}",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        (self.state / "log4j2.properties").write_text(
            "\n".join(
                [
                    "rootLogger.level=INFO",
                    "rootLogger.appenderRef.out.ref=out",
                    "appender.out.type=Console",
                    "appender.out.name=out",
                    "appender.out.layout.type=PatternLayout",
                    "appender.out.layout.pattern=[%d] %p %m (%c)%n",
                    "logger.kafka.name=kafka",
                    "logger.kafka.level=WARN",
                    "logger.apache.name=org.apache.kafka",
                    "logger.apache.level=WARN",
                    "",
                ]
            )
        )

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        java = find_java(min_major=17)
        return [
            str(java),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            f"-Dlog4j2.configurationFile={self.state / 'log4j2.properties'}",
            "-cp",
            f"{self.lib}/*",
            main,
            *args,
        ]

    def _cluster_id(self) -> str:
        """The id every node is formatted with: the one a formatted node has, else a new one."""
        for node in self.nodes:
            for line in _read_lines(node.data / "meta.properties"):
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        # 16 random bytes, base64url without padding (as `kafka-storage random-uuid`)
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def _format(self, node: KafkaNode, cluster_id: str) -> None:
        """Format KRaft storage on first start (static quorum, so a plain `format`).

        A node formatted for another quorum cannot join this one: say so instead of letting
        the broker fail with an election that never ends.
        """
        stamp = node.state / "quorum.voters"
        if (node.data / "meta.properties").exists():
            formatted_for = stamp.read_text().strip() if stamp.exists() else self.voters
            if formatted_for != self.voters:
                raise VodlakeError(
                    f"Kafka broker {node.node_id} was formatted for the quorum {formatted_for}, "
                    f"not {self.voters}",
                    hint=f"set services.kafka.brokers back, or remove {node.state} (its data)",
                )
            return
        proc = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.props)
            ),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise VodlakeError(
                "Kafka storage format failed: " + (proc.stderr or proc.stdout).strip()[-300:],
                hint=f"remove {node.data} and run `vodlake services up` again",
            )
        stamp.write_text(self.voters + "\n")

    # --- lifecycle ---------------------------------------------------------------------------
    def _admin(self, timeout_ms: int = 3000) -> Any:
        from kafka import KafkaAdminClient

        return KafkaAdminClient(
            bootstrap_servers=self.address,
            request_timeout_ms=timeout_ms,
            client_id="vodlake-health",
        )

    def live_brokers(self) -> set[int]:
        """Ids of the brokers the cluster lists as registered (empty when nothing answers)."""
        if not any(port_open("127.0.0.1", n.port) for n in self.nodes):
            return set()
        try:
            admin = self._admin()
        except Exception:
            return set()
        try:
            admin.list_topics()
            return {b["node_id"] for b in admin.describe_cluster().get("brokers", [])}
        except Exception:
            return set()
        finally:
            admin.close()

    def healthy(self) -> bool:
        """Every configured broker is registered with the cluster and answers."""
        # a killed broker stays registered until the controller fences it: ask its port too
        if not all(port_open("127.0.0.1", n.port) for n in self.nodes):
            return False
        return {n.node_id for n in self.nodes} <= self.live_brokers() and all(
            port_open("127.0.0.1", n.port) for n in self.nodes
        )

    def start_node(self, node: KafkaNode, cluster_id: str | None = None) -> bool:
        """Start one broker unless it runs; True when this call started it (no waiting)."""
        if node.pid() is not None:
            return False
        for port in (node.port, node.controller_port):
            if port_open("127.0.0.1", port):
                raise VodlakeError(
                    f"port {port} is taken by a process vodlake did not start",
                    hint="stop it, or set services.kafka.port / controller_port",
                )
        self.fetch()
        self._write_config(node)
        self._format(node, cluster_id or self._cluster_id())
        start_process(
            self._java("kafka.Kafka", str(node.props), heap=self.svc.heap),
            node.log,
            node.pidfile,
            env=dict(os.environ),
        )
        return True

    def up(self) -> bool:
        """Start every broker that is not running; True when this call started any."""
        if self.healthy():
            return False
        cluster_id = self._cluster_id()
        started = [n for n in self.nodes if self.start_node(n, cluster_id)]
        wait_for_nodes(
            self.healthy,
            self.nodes,
            self.cfg.services.start_timeout_s,
            "Kafka",
            self.log,
            lambda n: (f"broker {n.node_id}", f"see its log: {n.log}"),
        )
        return bool(started)

    def down(self) -> bool:
        """Stop every broker at once (one at a time, the last ones wait on a lost quorum)."""
        return stop_processes([n.pidfile for n in self.nodes], MARKER)

    # --- state -------------------------------------------------------------------------------
    def controller(self) -> int | None:
        """The active KRaft controller: the newest election any running node has recorded."""
        alive = {n.node_id: n for n in self.nodes if n.pid() is not None}
        best: tuple[int, int] | None = None
        for node in alive.values():
            state = node.quorum_state()
            leader, epoch = state.get("leaderId", -1), state.get("leaderEpoch", -1)
            if best is None or epoch > best[1]:
                best = (leader, epoch)
        return best[0] if best and best[0] in alive else None

    def partitions(self, topics: list[str] | None = None) -> list[PartitionState]:
        """Leader, replicas and in-sync replicas of every partition (of `topics`, else all).

        A broker that just died stays in the metadata until the controller fences it, and a
        request routed to it fails: ask again on a fresh connection (three tries).
        """
        for attempt in range(3):
            try:
                admin = self._admin()
                try:
                    described = admin.describe_topics(topics)
                finally:
                    admin.close()
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(0.5)
        return [
            PartitionState(
                t["topic"],
                p["partition"],
                p["leader"],
                tuple(p["replicas"]),
                tuple(p["isr"]),
            )
            for t in described
            for p in t["partitions"]
        ]

    def status(self) -> ServiceStatus:
        pids = {n.node_id: n.pid() for n in self.nodes}
        live = self.live_brokers()
        healthy = {n.node_id for n in self.nodes} <= live
        try:
            parts = self.partitions() if live else []
        except Exception:
            parts = []
        controller = self.controller() if any(pids.values()) else None
        leaders = {n.node_id: sum(p.leader == n.node_id for p in parts) for n in self.nodes}
        offline = sum(p.leader < 0 for p in parts)
        under = sum(len(p.isr) < len(p.replicas) for p in parts)
        if not live or controller is None or offline:
            health = "red"
        elif not healthy or under:
            health = "yellow"
        else:
            health = "green"
        nodes = tuple(
            NodeStatus(
                f"broker-{n.node_id}",
                n.address,
                pids[n.node_id] is not None,
                pids[n.node_id],
                "controller" if n.node_id == controller else "",
                leaders[n.node_id],
            )
            for n in self.nodes
        )
        if healthy:
            detail = "healthy"
        elif any(pids.values()):
            detail = "starting or unhealthy"
        else:
            detail = "stopped"
        if self.count > 1:
            detail += f", {len(live & set(pids))}/{self.count} brokers"
        if parts:
            detail += f", {len(parts)} partitions"
            if under or offline:
                detail += f" ({under} under-replicated, {offline} offline)"
        first = self.nodes[0]
        running = any(pids.values())
        return ServiceStatus(
            NAME, self.address, running, healthy, detail, pids[first.node_id], health, nodes
        )


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []
