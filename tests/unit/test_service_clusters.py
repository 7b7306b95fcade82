"""Cluster layout of the local services (no process started): ports, folders, quorum, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodlake.commands.services import format_status
from vodlake.config import load_config
from vodlake.lake.kafka_io import replication
from vodlake.services.common import NodeStatus, ServiceStatus
from vodlake.services.elasticsearch import ElasticsearchService
from vodlake.services.kafka import KafkaService, replication_for


def _cfg(tmp_path: Path, brokers: int = 1, nodes: int = 1):
    return load_config(
        "test",
        overrides={
            "elasticsearch": {"port": 29200},
            "services": {
                "state_dir": str(tmp_path),
                "kafka": {"brokers": brokers, "port": 29092, "controller_port": 29093},
                "elasticsearch": {"nodes": nodes},
            },
        },
    )


def test_one_broker_keeps_the_single_node_layout(tmp_path) -> None:
    kafka = KafkaService(_cfg(tmp_path))
    assert kafka.address == "127.0.0.1:29092"
    assert kafka.pidfile == tmp_path / "kafka" / "kafka.pid"
    assert kafka.nodes[0].data == tmp_path / "kafka" / "data"
    assert kafka.voters == "1@127.0.0.1:29093"


def test_three_brokers_get_distinct_ports_folders_and_one_static_quorum(tmp_path) -> None:
    kafka = KafkaService(_cfg(tmp_path, brokers=3))
    assert kafka.address == "127.0.0.1:29092,127.0.0.1:29102,127.0.0.1:29112"
    assert [n.controller_port for n in kafka.nodes] == [29093, 29103, 29113]
    assert [n.state.name for n in kafka.nodes] == ["broker-1", "broker-2", "broker-3"]
    assert kafka.voters == "1@127.0.0.1:29093,2@127.0.0.1:29103,3@127.0.0.1:29113"
    kafka._write_config(kafka.node(2))
    props = dict(
        line.split("=", 1) for line in kafka.node(2).props.read_text().splitlines() if line
    )
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == kafka.voters
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29102"
    assert props["default.replication.factor"] == props["offsets.topic.replication.factor"] == "3"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_replication_is_three_copies_two_in_sync_at_most(brokers, expected) -> None:
    assert replication_for(brokers) == expected


def test_a_topic_is_not_created_short_of_copies_when_a_local_broker_is_down(tmp_path) -> None:
    cfg = _cfg(tmp_path, brokers=3)
    assert replication(cfg, live_brokers=2) == (3, 2)  # Kafka then refuses: a clear error
    assert replication(_cfg(tmp_path), live_brokers=6) == (3, 2)  # a real cluster's own size


def test_search_nodes_form_one_cluster_from_seed_hosts(tmp_path) -> None:
    one = ElasticsearchService(_cfg(tmp_path))
    assert "discovery.type: single-node" in one._settings(one.nodes[0])
    assert one.nodes[0].state == tmp_path / "elasticsearch"
    es = ElasticsearchService(_cfg(tmp_path, nodes=3))
    assert [n.http_port for n in es.nodes] == [29200, 29201, 29202]
    assert [n.transport_port for n in es.nodes] == [29300, 29301, 29302]
    settings = es._settings(es.node(3))
    assert "node.name: vodlake-3" in settings and "http.port: 29202" in settings
    assert f"path.data: {tmp_path / 'elasticsearch' / 'node-3' / 'data'}" in settings
    assert (
        'discovery.seed_hosts: ["127.0.0.1:29300", "127.0.0.1:29301", "127.0.0.1:29302"]'
        in settings
    )
    assert 'cluster.initial_master_nodes: ["vodlake-1", "vodlake-2", "vodlake-3"]' in settings
    assert not any(s.startswith("discovery.type") for s in settings)


def test_status_lists_every_node_with_its_role_and_leaders() -> None:
    status = ServiceStatus(
        "kafka",
        "127.0.0.1:29092,127.0.0.1:29102",
        True,
        False,
        "starting or unhealthy, 1/2 brokers",
        11,
        "yellow",
        (
            NodeStatus("broker-1", "127.0.0.1:29092", True, 11, "controller", 4),
            NodeStatus("broker-2", "127.0.0.1:29102", False),
        ),
    )
    lines = format_status(status).splitlines()
    assert lines[0].split()[:2] == ["kafka", "[yellow]"]
    assert lines[1].split() == [
        "broker-1", "127.0.0.1:29092", "pid", "11", "controller", "4", "partition", "leaders"
    ]  # fmt: skip
    assert lines[2].split()[:4] == ["broker-2", "127.0.0.1:29102", "down", "-"]


class _Node:
    def __init__(self, log: Path, alive: bool) -> None:
        self.log, self.alive = log, alive

    def pid(self) -> int | None:
        return 1234 if self.alive else None


def test_a_node_that_dies_while_starting_is_named_with_its_log(tmp_path: Path) -> None:
    from vodlake.errors import VodlakeError
    from vodlake.services.common import wait_for_nodes

    log = tmp_path / "broker-2.log"
    log.write_text("starting\nERROR Address already in use\nshutting down\n")
    nodes = [_Node(tmp_path / "b1.log", True), _Node(log, False)]
    with pytest.raises(VodlakeError) as err:
        wait_for_nodes(
            lambda: False, nodes, 0, "Kafka", tmp_path / "k.log", lambda n: ("broker 2", "see it")
        )
    assert str(err.value).startswith("Kafka broker 2 exited while starting: starting | ERROR")
    assert err.value.hint == "see it"
    with pytest.raises(VodlakeError, match="did not become healthy"):  # all alive: plain timeout
        wait_for_nodes(lambda: False, nodes[:1], 0, "Kafka", log, lambda n: ("?", "?"))
