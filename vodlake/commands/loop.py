"""`vodlake loop --days N`: players -> telemetry -> nightly -> fill -> players, measured.

Runs in its own namespace (topics `loop.*`, data under <home>/loop, edges 127.0.14.N, its own
steering); needs the local services (Kafka, the object store). See vodlake.delivery.loop.
"""

from __future__ import annotations

import argparse

from vodlake.runtime import add_common_options


def configure(parser: argparse.ArgumentParser) -> None:
    from vodlake.delivery.loop import LoopSize

    d = LoopSize()
    parser.add_argument("--days", type=int, default=d.days, help="days to play (>= 2)")
    parser.add_argument("--clients", type=int, default=d.clients, help="players per day")
    parser.add_argument("--minutes", type=float, default=d.minutes, help="wall minutes per day")
    parser.add_argument("--speed", type=float, default=d.speed, help="media s per wall s")
    parser.add_argument("--titles", type=int, default=d.titles, help="real transcoded titles")
    parser.add_argument(
        "--synthetic", type=int, default=d.synthetic,
        help="synthetic load titles (segment-sized random bytes, labelled synthetic)",
    )  # fmt: skip
    parser.add_argument(
        "--capacity-share", type=float, default=d.capacity_share,
        help="each edge's capacity as a share of the catalog's bytes",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the players")
    parser.add_argument(
        "--run", type=int, default=None,
        help="run number (its parity picks the prefill ISP; default: the next of the counter)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    add_common_options(parser, env=False)


def run(args: argparse.Namespace) -> int:
    from vodlake.delivery import loop
    from vodlake.runtime import config_from, spark_from

    cfg = config_from(args)
    size = loop.LoopSize(
        days=args.days, clients=args.clients, minutes=args.minutes, speed=args.speed,
        titles=args.titles, synthetic=args.synthetic, capacity_share=args.capacity_share,
        seed=args.seed,
    )  # fmt: skip
    spark = spark_from(args, loop.loop_config(cfg), "vodlake-loop")
    result = loop.run(spark, cfg, size, args.run)
    print(loop.render(result))
    if args.json:
        print(loop.to_json(result))
    failed = sum(d["failed_sessions"] for d in result["players"])
    return 0 if failed == 0 else 1
