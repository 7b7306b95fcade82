"""`vodlake web`: the search and watch page (needs steering, edges and Elasticsearch)."""

from __future__ import annotations

import argparse

from vodlake.config import load, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port (default web.port)")
    parser.add_argument("--steering", default=None, help="steering base URL (default config)")


def run(args: argparse.Namespace) -> int:
    from vodlake.delivery.web import serve

    cfg = (
        load_config(args.env, overrides={"web": {"port": args.port}})
        if args.port
        else load(args.env)
    )
    serve(cfg, args.steering)
    return 0
