"""`vodlake steering serve|start|stop|status`: the service that ranks edges for a client.

`serve` runs in the foreground and logs every decision with its reason; `start`/`stop` run it
in the background (pid file and log under services.state_dir/steering).
"""

from __future__ import annotations

import argparse
import logging
import sys

from vodlake.config import load, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["serve", "start", "stop", "status"])
    parser.add_argument("--host", default=None, help="listen address (default steering.host)")
    parser.add_argument("--port", type=int, default=None, help="port (default steering.port)")
    parser.add_argument("--home", default=None, help="paths.home override (the lake to read)")
    parser.add_argument("--log", default=None, help="also append decisions to this file")


def _cfg(args: argparse.Namespace):
    over: dict = {}
    if args.home:
        over["paths"] = {"home": args.home}
    if args.host or args.port:
        over["steering"] = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
    return load_config(args.env, overrides=over) if over else load(args.env)


def run(args: argparse.Namespace) -> int:
    cfg = _cfg(args)
    if args.action == "serve":
        from vodlake.delivery.steering import serve

        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if args.log:
            handlers.append(logging.FileHandler(args.log))
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers
        )
        serve(cfg)
        return 0
    from vodlake.services.steering import SteeringService

    svc = SteeringService(cfg)
    if args.action == "start":
        started = svc.up()
        state = "started" if started else "already running"
        print(f"steering {state} at {svc.url} (log {svc.log})")
    elif args.action == "stop":
        print("steering stopped" if svc.down() else "steering was not running")
    st = svc.status()
    print(f"{st.name:<14} {st.address:<24} {st.detail}")
    return 0 if st.healthy or args.action == "stop" else 1
