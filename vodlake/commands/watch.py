"""`vodlake watch --clients N --minutes M --seed S [--json]`: players watching through edges.

Needs the steering service (`vodlake steering start`) and the edges; sends playback events to
Kafka (kafka.topics.playback) and prints QoE and bytes by edge and cache status.
"""

from __future__ import annotations

import argparse
import json

from vodlake.config import load, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=10, help="concurrent players (default 10)")
    parser.add_argument("--minutes", type=float, default=1.0, help="wall-clock minutes to run")
    parser.add_argument("--seed", type=int, default=1, help="seed of title and viewer choices")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--steering", default=None, help="steering base URL (default config)")
    parser.add_argument("--topic", default=None, help="playback topic (default config)")
    parser.add_argument("--no-kafka", action="store_true", help="do not send playback events")
    parser.add_argument("--speed", type=float, default=None, help="media seconds per wall second")


def run(args: argparse.Namespace) -> int:
    from vodlake.delivery.players import watch

    cfg = load(args.env)
    if args.speed:
        cfg = load_config(args.env, overrides={"players": {"speed": args.speed}})
    if not args.json:
        print(f"watching: {args.clients} clients for {args.minutes} min ...", flush=True)
    out = watch(
        cfg, args.clients, args.minutes, args.seed, args.steering, args.topic, not args.no_kafka
    )
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:<22} {value}")
    return 0 if out["failed_sessions"] == 0 else 1
