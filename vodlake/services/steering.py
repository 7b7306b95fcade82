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

from vodlake.config import Config
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
        self.state = Path(cfg.services.state_dir) / "steering"

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
        self.state.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("VODLAKE_ENV", self.cfg.env)
        steer = self.cfg.steering
        cmd = [sys.executable, "-m", "vodlake.cli", "steering", "serve"]
        cmd += ["--home", self.cfg.paths.home, "--host", steer.host, "--port", str(steer.port)]
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
