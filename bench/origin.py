"""Benchmark the origin: segment-sized objects written and read through vodlake's storage layer
(vodlake.lake.storage, what executors use: one PutObject per segment-sized object, pyarrow's S3
client for reads) next to plain boto3 calls against the SAME object store, in the same run.

Run: ``python bench/origin.py [--objects N] [--rounds R]`` (starts the embedded store if it is
not running, and stops it again at the end then).

N objects of sizes drawn between 100 kB and 2 MB (a 4 s segment of the ladder's rungs) are
made once as local files, as packaging leaves them. Each round writes all of them with
vodlake (`Storage.put_file`) and with boto3 (`upload_file`), then reads all of them back with
vodlake (`Storage.read_bytes`) and boto3 (`get_object().read()`), one object at a time on one
thread each (a packaging task publishes its files one after the other). The two clients take
turns going first, and each figure is the best round, so neither wins by going second into a
warm store. Everything goes under a bench prefix of the origin bucket, deleted at the end.
Printed: MB/s for each, and the ratio vodlake / boto3 (goal >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vodlake import services
from vodlake.config import Config, load_config
from vodlake.lake import storage as st

GOAL_RATIO = 0.9
MIN_BYTES, MAX_BYTES = 100_000, 2_000_000


def make_objects(folder: Path, n: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    files = []
    for i in range(n):
        path = folder / f"seg-{i:05d}.m4s"
        path.write_bytes(os.urandom(rng.randint(MIN_BYTES, MAX_BYTES)))
        files.append(path)
    return files


def boto3_client(cfg: Config) -> Any:
    """A plain boto3 client as a user would make it, path-style against the same endpoint."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=cfg.objectstore.endpoint,
        region_name=cfg.objectstore.region,
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def timed(fn: Callable[[int], None], r: int) -> float:
    started = time.perf_counter()
    fn(r)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    cfg = load_config(os.environ.get("VODLAKE_ENV", "local"))
    started = services.require(cfg, ["objectstore"])
    storage = st.Storage.from_config(cfg)  # also puts the embedded store's keys into AWS_*
    s3 = boto3_client(cfg)
    bucket = cfg.objectstore.bucket
    run = uuid.uuid4().hex[:10]
    prefix = f"bench/origin-{run}"
    root = f"s3a://{bucket}/{prefix}"
    scratch = Path(tempfile.mkdtemp(prefix="vodlake-bench-origin-"))
    try:
        files = make_objects(scratch, args.objects, args.seed)
        total = sum(f.stat().st_size for f in files)
        print(
            f"{len(files)} objects, {total / 1e6:.1f} MB ({MIN_BYTES // 1000} kB-"
            f"{MAX_BYTES // 1_000_000} MB), store {cfg.objectstore.endpoint}, "
            f"bucket {bucket}, {args.rounds} rounds, best round counts"
        )

        def v_write(r: int) -> None:
            for f in files:
                storage.put_file(f, f"{root}/v{r}/{f.name}")

        def b_write(r: int) -> None:
            for f in files:
                s3.upload_file(str(f), bucket, f"{prefix}/b{r}/{f.name}")

        def v_read(r: int) -> None:
            for f in files:
                assert len(storage.read_bytes(f"{root}/v{r}/{f.name}")) == f.stat().st_size

        def b_read(r: int) -> None:
            for f in files:
                body = s3.get_object(Bucket=bucket, Key=f"{prefix}/b{r}/{f.name}")["Body"]
                assert len(body.read()) == f.stat().st_size

        best: dict[str, float] = {}
        for r in range(args.rounds):
            pairs = [("vodlake", v_write, v_read), ("boto3", b_write, b_read)]
            if r % 2:
                pairs.reverse()
            for name, write, _ in pairs:
                secs = timed(write, r)
                best[f"{name} write"] = min(best.get(f"{name} write", secs), secs)
            for name, _, read in pairs:
                secs = timed(read, r)
                best[f"{name} read"] = min(best.get(f"{name} read", secs), secs)
        for op in ("write", "read"):
            v = total / best[f"vodlake {op}"] / 1e6
            b = total / best[f"boto3 {op}"] / 1e6
            ratio = v / b
            verdict = "meets" if ratio >= GOAL_RATIO else "misses"
            print(
                f"{op:<5}  vodlake {v:7.1f} MB/s  boto3 {b:7.1f} MB/s  "
                f"ratio {ratio:.3f} ({verdict} the goal >= {GOAL_RATIO})"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        storage.delete(root)
        services.down(cfg, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
