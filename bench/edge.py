"""Benchmark an edge: segment-sized files served as PREFILL and as HIT vs plain static nginx.

Run: ``python bench/edge.py [--files 16] [--kib 512] [--seconds 5] [--connections 8]``.
Loopback only, bounded (each phase runs `--seconds` under Debian's `wrk`, twice, interleaved
with the others so that machine noise hits every side alike).

The edge is a real one (vodlake.delivery.edges, own state folder, own loopback prefix and port,
origin = a prefix of its own on the object store). Three phases, same files, same wrk:
- PREFILL: the files are in the edge's prefill store (try_files);
- HIT: the same files only on the origin, fetched once to warm the pull-through cache;
- baseline: the same nginx binary, same worker count, serving the same folder as plain static
  files (one `location` with `root`, nginx's default combined access log, sendfile).
Printed: requests/s, bytes/s and p99 latency per phase and the edge/baseline ratios (goal:
>= 0.9). The edge pays for its JSON access log, regex location, try_files and headers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from vodlake.config import load_config
from vodlake.delivery import edges
from vodlake.lake import storage

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _size(text: str) -> float:
    m = re.match(r"([\d.]+)([KMG]?)B?", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def run_wrk(base: str, paths: list[str], seconds: int, conns: int, work: Path) -> dict:
    script = work / "paths.lua"
    listed = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{{listed}}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        '  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bps = _size(re.search(r"Transfer/sec:\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "bps": bps, "p99": p99, "errors": int(errors.group(1)) if errors else 0}


def plain_nginx(root: Path, work: Path, host: str, port: int, workers: int) -> Path:
    """The baseline: the same nginx binary serving `root` as static files."""
    conf = work / "plain.conf"
    (work / "logs").mkdir(exist_ok=True)
    conf.write_text(
        f"worker_processes {workers};\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {work}/plain.pid;\nerror_log {work}/logs/error.log warn;\n"
        "events { worker_connections 2048; }\n"
        "http {\n  default_type application/octet-stream;\n  sendfile on;\n  tcp_nopush on;\n"
        f"  keepalive_requests 100000;\n  access_log {work}/logs/access.log;\n"
        f"  client_body_temp_path {work}/tmp;\n  proxy_temp_path {work}/tmp;\n"
        f"  server {{\n    listen {host}:{port};\n    location /videos/ {{ root {root}; }}\n  }}\n"
        "}\n"
    )
    nginx = edges.find_nginx()
    subprocess.run([nginx, "-p", str(work), "-e", str(work / "logs/error.log"), "-c", str(conf)],
                   check=True)  # fmt: skip
    return conf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--kib", type=int, default=512, help="file size (a 1 Mbps 4 s segment)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run `vodlake setup` (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="vodlake-bench-edge-"))
    run_id = uuid.uuid4().hex[:8]
    cfg = load_config(
        "test",
        overrides={
            "paths": {"home": str(work / "home")},
            "edges": {"state_dir": str(work / "edges"), "address_prefix": "127.0.251",
                      "port": _free_port()},
            "topology": {"edges": [{"id": "bench-1", "region": "r", "isp": "i",
                                    "capacity_bytes": 10**10}]},
        },
    )  # fmt: skip
    store = storage.Storage.from_config(cfg)
    origin_videos = storage.join(cfg.paths.origin, "videos")
    lay = edges.layout(cfg, "bench-1")
    static_root = work / "static"
    data = os.urandom(args.kib * 1024)
    paths = []
    for i in range(args.files):
        rel = f"videos/bench-{run_id}/720p/seg-{i:05d}.m4s"
        paths.append("/" + rel)
        store.put_bytes(data, storage.join(cfg.paths.origin, rel))
        (static_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (static_root / rel).write_bytes(data)
    plain_port = _free_port()
    plain_conf = None
    try:
        edges.up(cfg, log=lambda _: None)
        # warm the cache (HIT phase) through a second copy of the names under /videos/h-...
        hit_paths = [p.replace(f"bench-{run_id}", f"bench-{run_id}-h") for p in paths]
        for p in hit_paths:
            store.put_bytes(data, storage.join(cfg.paths.origin, p.lstrip("/")))
            with urllib.request.urlopen(lay.base_url + p) as resp:
                resp.read()
        shutil.copytree(static_root / "videos", lay.prefill / "videos", dirs_exist_ok=True)
        for p in (paths[0], hit_paths[0]):
            with urllib.request.urlopen(lay.base_url + p) as resp:
                print(f"check {p}: X-Cache {resp.headers['X-Cache']}")
        (work / "plain").mkdir()
        plain_conf = plain_nginx(
            static_root, work / "plain", "127.0.0.1", plain_port, cfg.edges.worker_processes
        )
        phases = {
            "baseline": (f"http://127.0.0.1:{plain_port}", paths),
            "PREFILL": (lay.base_url, paths),
            "HIT": (lay.base_url, hit_paths),
        }
        results: dict[str, list[dict]] = {k: [] for k in phases}
        for round_ in range(2):
            for name, (base, plist) in phases.items():
                r = run_wrk(base, plist, args.seconds, args.connections, work)
                results[name].append(r)
                print(
                    f"round {round_ + 1} {name:<8} {r['rps']:>9,.0f} req/s "
                    f"{r['bps'] / 1e6:>8,.1f} MB/s  p99 {r['p99']:.2f} ms  errors {r['errors']}",
                    flush=True,
                )
        total = {k: (sum(r["rps"] for r in v) / 2, sum(r["bps"] for r in v) / 2,
                     max(r["p99"] for r in v)) for k, v in results.items()}  # fmt: skip
        base_rps, base_bps, base_p99 = total["baseline"]
        print(
            f"{args.files} files x {args.kib} KiB, wrk -t1 -c{args.connections}, "
            f"{args.seconds}s x 2 rounds per phase"
        )
        for name in ("PREFILL", "HIT"):
            rps, bps, p99 = total[name]
            print(
                f"{name:<8} {rps:,.0f} req/s {bps / 1e6:,.1f} MB/s p99 {p99:.2f} ms | "
                f"baseline {base_rps:,.0f} req/s {base_bps / 1e6:,.1f} MB/s p99 {base_p99:.2f} ms"
                f" | ratio req/s {rps / base_rps:.2f} bytes/s {bps / base_bps:.2f} (goal >= 0.9)"
            )
    finally:
        edges.down(cfg)
        if plain_conf is not None:
            pid_file = work / "plain" / "plain.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text())
                os.kill(pid, 15)
                deadline = time.monotonic() + 5
                while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
        store.delete(storage.join(origin_videos, f"bench-{run_id}"))
        store.delete(storage.join(origin_videos, f"bench-{run_id}-h"))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
