"""`vodlake demo`, `vodlake job NAME`, `vodlake stream NAME`: the same main(argv) as spark-submit.

Arguments after the name go to the entry point untouched, so `vodlake job popularity --help`
shows the job's own options, exactly as `spark-submit jobs/popularity.py --help` would.
"""

from __future__ import annotations

import importlib
import pkgutil

from vodlake.errors import VodlakeError

PASSTHROUGH = True
_KINDS = {"job": "vodlake.jobs", "stream": "vodlake.streaming"}


def available(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def run_argv(command: str, argv: list[str], env: str | None) -> int:
    if command == "demo":
        module_name = "vodlake.jobs.demo"
    else:
        package = _KINDS[command]
        names = available(package)
        if not argv or argv[0] in ("-h", "--help"):
            print(f"usage: vodlake {command} NAME [ARGS...]\n\n{command}s: {', '.join(names)}")
            return 0
        name, argv = argv[0], argv[1:]
        if name not in names:
            raise VodlakeError(
                f"no {command} named '{name}'", hint=f"choose one of: {', '.join(names)}"
            )
        module_name = f"{package}.{name}"
    module = importlib.import_module(module_name)
    if env and "--env" not in argv:
        argv = ["--env", env, *argv]
    return int(module.main(argv) or 0)
