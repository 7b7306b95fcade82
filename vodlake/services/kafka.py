"""A single-node KRaft Kafka broker on 127.0.0.1, from Maven Central jars (no Docker)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from vodlake import versions
from vodlake.config import Config
from vodlake.errors import VodlakeError
from vodlake.services.common import (
    ServiceStatus,
    find_java,
    log_tail,
    maven_copy_dependencies,
    port_open,
    read_pid,
    start_process,
    stop_process,
    wait_until,
)

NAME = "kafka"
MARKER = "kafka.Kafka"


class KafkaService:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.svc = cfg.services.kafka
        self.state = Path(cfg.services.state_dir) / "kafka"
        self.lib = Path(cfg.services.cache_dir) / f"kafka-{versions.KAFKA_VERSION}" / "lib"
        self.pidfile = self.state / "kafka.pid"
        self.log = self.state / "kafka.log"
        self.data = self.state / "data"
        self.props = self.state / "server.properties"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.svc.port}"

    def fetch(self) -> bool:
        """Resolve the broker jars from Maven Central once; True when it downloaded."""
        if self.lib.exists() and any(self.lib.glob("kafka_*.jar")):
            return False
        maven_copy_dependencies(versions.KAFKA_ARTIFACTS, self.lib, self.lib.parent / "mvn")
        return True

    def _write_config(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        port, cport = self.svc.port, self.svc.controller_port
        self.props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{cport}",
                    f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data}",
                    f"num.partitions={self.cfg.kafka.partitions}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
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

    def _format(self) -> None:
        """Format KRaft storage on first start (static quorum, so a plain `format`)."""
        if (self.data / "meta.properties").exists():
            return
        cluster_id = _cluster_id()
        proc = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.props)
            ),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise VodlakeError(
                "Kafka storage format failed: " + (proc.stderr or proc.stdout).strip()[-300:],
                hint=f"remove {self.data} and run `vodlake services up` again",
            )

    def healthy(self) -> bool:
        if not port_open("127.0.0.1", self.svc.port):
            return False
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(
                bootstrap_servers=self.address, request_timeout_ms=3000, client_id="vodlake-health"
            )
            try:
                admin.list_topics()
                return bool(admin.describe_cluster().get("brokers"))
            finally:
                admin.close()
        except Exception:
            return False

    def up(self) -> bool:
        """Start the broker unless it answers already; True when this call started it."""
        if self.healthy():
            return False
        if read_pid(self.pidfile) is None and port_open("127.0.0.1", self.svc.port):
            raise VodlakeError(
                f"port {self.svc.port} is taken by a process vodlake did not start",
                hint="stop it, or set services.kafka.port / kafka.bootstrap_servers",
            )
        if read_pid(self.pidfile) is None:
            self.fetch()
            self._write_config()
            self._format()
            start_process(
                self._java("kafka.Kafka", str(self.props), heap=self.svc.heap),
                self.log,
                self.pidfile,
                env=dict(os.environ),
            )
        timeout = self.cfg.services.start_timeout_s
        try:
            wait_until(self.healthy, timeout, "Kafka", self.log)
        except VodlakeError:
            if read_pid(self.pidfile) is None:
                raise VodlakeError(
                    "Kafka exited while starting: " + log_tail(self.log, 3),
                    hint=f"see its log: {self.log}",
                ) from None
            raise
        return True

    def down(self) -> bool:
        return stop_process(self.pidfile, MARKER)

    def status(self) -> ServiceStatus:
        pid = read_pid(self.pidfile)
        healthy = self.healthy()
        detail = "healthy" if healthy else ("starting or unhealthy" if pid else "stopped")
        return ServiceStatus(NAME, self.address, pid is not None, healthy, detail, pid)


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (as `random-uuid`)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
