"""The local services: idempotent up, status, and a down that leaves no process behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodlake import services
from vodlake.services.common import pid_alive
from vodlake.services.kafka import KafkaService

pytestmark = pytest.mark.integration


def test_up_is_idempotent_and_status_is_healthy(live_services, cfg) -> None:
    assert services.up(cfg) == []  # already running: nothing started
    statuses = {s.name: s for s in services.status(cfg)}
    assert statuses["kafka"].healthy and statuses["kafka"].address == "127.0.0.1:9092"
    assert statuses["elasticsearch"].healthy
    assert "8.19" in statuses["elasticsearch"].detail


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(proc.name))
    return members


def test_a_second_broker_starts_formats_and_stops_cleanly(live_services, cfg, tmp_path) -> None:
    """A broker of its own (other ports, own state): up formats storage, down leaves nothing."""
    from vodlake.config import load_config

    own = load_config(
        "test",
        overrides={
            "services": {
                "state_dir": str(tmp_path / "state"),
                "cache_dir": cfg.services.cache_dir,  # reuse the downloaded jars
                "kafka": {"port": 19092, "controller_port": 19093, "heap": "256m"},
            }
        },
    )
    kafka = KafkaService(own)
    assert kafka.up() is True
    try:
        assert (tmp_path / "state" / "kafka" / "data" / "meta.properties").exists()
        status = kafka.status()
        assert status.healthy and status.address == "127.0.0.1:19092"
        pid = status.pid
        assert pid and "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_text()
        assert kafka.up() is False  # idempotent
    finally:
        assert kafka.down() is True
    assert not pid_alive(pid)
    assert _group_members(pid) == []
    assert kafka.status().detail == "stopped"
    assert kafka.down() is False  # nothing left to stop
