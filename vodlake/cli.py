"""The `vodlake` command: one entry with subcommands; errors are one line plus a hint.

Each subcommand lives in its own module with `configure(parser)` and `run(args) -> int`, imported
only when it is the one asked for, so `vodlake --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from vodlake import __version__
from vodlake.config import ConfigError
from vodlake.errors import VodlakeError, describe

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "setup": (
        "vodlake.commands.setup",
        "install what vodlake needs: ffmpeg, service and Spark jars",
    ),
    "services": (
        "vodlake.commands.services",
        "start, stop or check the local Kafka and Elasticsearch",
    ),
    "versions": (
        "vodlake.commands.versions",
        "print the pinned version matrix and spark-submit flags",
    ),
    "demo": ("vodlake.commands.runner", "run the platform end to end on embedded defaults"),
    "job": (
        "vodlake.commands.runner",
        "run a batch job from jobs/ (same as spark-submit jobs/NAME.py)",
    ),
    "stream": ("vodlake.commands.runner", "run a streaming query from streaming/"),
    "cachesim": ("vodlake.commands.cachesim", "replay a request trace through a cache policy"),
    "placement": (
        "vodlake.commands.placement",
        "evaluate the nightly prefill on any request log (no Spark)",
    ),
    "simulate-playback": ("vodlake.commands.playback", "simulate playback events to Kafka/files"),
    "reconcile": ("vodlake.commands.reconcile", "check bronze = silver + quarantine + duplicates"),
    "nightly": ("vodlake.commands.nightly", "nightly placement chain for a date (see --help)"),
    "upload": (
        "vodlake.commands.upload",
        "check a video, store it and announce it for transcoding",
    ),
    "videos": ("vodlake.commands.videos", "list the catalog: status, renditions, HLS/DASH URIs"),
    "search": ("vodlake.commands.search", "search videos, complete titles, check the index"),
    "edges": ("vodlake.commands.edges", "run, check and fill the nginx edges; ship their logs"),
    "steering": ("vodlake.commands.steering", "serve, start or stop the edge steering service"),
    "watch": ("vodlake.commands.watch", "players that watch titles through steering and edges"),
    "web": ("vodlake.commands.web", "serve the search and watch page (hls.js through the edges)"),
    "loop": ("vodlake.commands.loop", "closed loop: players -> nightly -> fill -> players, A/B"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vodlake",
        description="vodlake: upload, transcode, catalog, search and edge-cache analytics.",
        epilog="Run `vodlake COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vodlake {__version__}")
    parser.add_argument("--env", help="configuration environment: conf/<env>.yaml (default local)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    # split global options from the command and its own arguments
    known, _ = top.parse_known_args(argv)
    if known.env:
        os.environ["VODLAKE_ENV"] = known.env
    if known.debug:
        os.environ["VODLAKE_DEBUG"] = "1"
    if not known.command:
        top.print_help()
        return 0
    module_name, help_text = COMMANDS[known.command]
    idx = argv.index(known.command)
    parser = argparse.ArgumentParser(prog=f"vodlake {known.command}", description=help_text)
    try:
        module = importlib.import_module(module_name)
        if getattr(module, "PASSTHROUGH", False):
            env = known.env or os.environ.get("VODLAKE_ENV")
            return int(module.run_argv(known.command, argv[idx + 1 :], env) or 0)
        module.configure(parser)
        args = parser.parse_args(argv[idx + 1 :])
        args.command = known.command
        args.env = known.env or os.environ.get("VODLAKE_ENV")
        return int(module.run(args) or 0)
    except VodlakeError as exc:
        if known.debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        if known.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        print(
            "hint: fix conf/base.yaml, conf/<env>.yaml or the VODLAKE__* variable", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if known.debug:
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        print("hint: rerun with `vodlake --debug ...` for the full traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
