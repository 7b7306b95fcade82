"""The steering service as a background process: start, stop, status (for `vodlake services`).

It is a plain Python process (`vodlake steering serve`) in its own process group, recorded by
pid file under services.state_dir/steering, like the broker and the search node.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import yaml

from vodlake.config import ENV_PREFIX, Config
from vodlake.services.common import (
    ServiceStatus,
    log_tail,
    port_open,
    read_pid,
    start_process,
    stop_process,
    wait_until,
)

MARKER = "steering serve"


class SteeringService:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        # one folder per listen address, so a test's steering never touches the default one
        where = f"{cfg.steering.host}-{cfg.steering.port}"
        self.state = Path(cfg.services.state_dir) / "steering" / where

    @property
    def address(self) -> str:
        return f"{self.cfg.steering.host}:{self.cfg.steering.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pidfile(self) -> Path:
        return self.state / "steering.pid"

    @property
    def log(self) -> Path:
        return self.state / "steering.log"

    def _health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1.0) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def healthy(self) -> bool:
        return self._health() is not None

    def up(self) -> bool:
        """Start it unless it answers; True when this call started it."""
        if self.healthy():
            return False
        if port_open(self.cfg.steering.host, self.cfg.steering.port):
            from vodlake.errors import VodlakeError

            raise VodlakeError(
                f"port {self.address} is taken by a process that is not vodlake steering",
                hint="stop it, or set steering.port",
            )
        # The process reads exactly this config: written out as its own conf folder.
        conf = self.state / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "base.yaml").write_text(yaml.safe_dump(self.cfg.model_dump(mode="json")))
        (conf / f"{self.cfg.env}.yaml").write_text("{}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(VODLAKE_CONF_DIR=str(conf), VODLAKE_ENV=self.cfg.env)
        cmd = [sys.executable, "-m", "vodlake.cli", "steering", "serve"]
        start_process(cmd, self.log, self.pidfile, env=env)
        wait_until(self.healthy, 30.0, "steering", self.log)
        return True

    def down(self) -> bool:
        return stop_process(self.pidfile, MARKER, timeout=10.0)

    def status(self) -> ServiceStatus:
        pid = read_pid(self.pidfile)
        doc = self._health()
        if doc is None:
            detail = "not running" if pid is None else f"not answering: {log_tail(self.log, 1)}"
        else:
            detail = f"{self.url}: {doc['edges_healthy']}/{doc['edges']} edges healthy"
        running, healthy = pid is not None or doc is not None, doc is not None
        return ServiceStatus("steering", self.address, running, healthy, detail, pid)
