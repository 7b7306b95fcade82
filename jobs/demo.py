"""The main job: the whole platform on embedded defaults, end to end, with a summary.

`vodlake demo` and `spark-submit jobs/demo.py` run this. Every stage works in the demo's own
namespace (vodlake.demo.namespace), never on the configured production names.
"""

from __future__ import annotations

import sys

from vodlake.demo.stages import run_demo
from vodlake.errors import run_entrypoint
from vodlake.runtime import config_from, job_parser


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("Run the vodlake platform end to end on embedded defaults.", "vodlake demo")
    parser.add_argument(
        "--no-start-services",
        action="store_true",
        help="fail if a service is not running instead of starting it",
    )
    parser.add_argument(
        "--keep-services", action="store_true", help="leave services it started running"
    )
    parser.add_argument("--events", type=int, default=None, help="events for the foundation stage")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="N",
        type=int,
        help="run only stage N (1-based, repeatable); later stages need earlier ones' data",
    )
    args = parser.parse_args(argv)
    if args.events:
        args.overrides = [*args.overrides, f"demo.events={args.events}"]
    return run_demo(
        config_from(args),
        master=args.master,
        only=args.only,
        start_services=not args.no_start_services,
        keep_services=args.keep_services,
    )


if __name__ == "__main__":
    sys.exit(run_entrypoint(main))
