"""`vodlake demo`, `vodlake job NAME`, `vodlake stream NAME`: the same main(argv) as spark-submit.

The entry points are files, `jobs/NAME.py` and `streaming/NAME.py`, found by path (next to the
library in a checkout, inside the package once installed) and loaded as spark-submit runs them;
no library module imports them. Arguments after the name go to the entry point untouched, so
`vodlake job popularity --help` shows the job's own options, exactly as
`spark-submit jobs/popularity.py --help` would.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import vodlake
from vodlake.errors import VodlakeError

PASSTHROUGH = True
_FOLDERS = {"job": "jobs", "stream": "streaming", "demo": "jobs"}
_PACKAGE = Path(vodlake.__file__).resolve().parent


def entry_folder(command: str) -> Path:
    """jobs/ or streaming/: inside the installed package, else beside it in the checkout."""
    name = _FOLDERS[command]
    for folder in (_PACKAGE / name, _PACKAGE.parent / name):
        if (folder / "__init__.py").is_file():
            return folder
    raise VodlakeError(
        f"no {name}/ folder found next to {_PACKAGE}",
        hint="reinstall vodlake (`pip install -e .` in the checkout)",
    )


def available(command: str) -> list[str]:
    """The entry points of a folder: its .py files except private ones."""
    folder = entry_folder(command)
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def load(command: str, name: str) -> ModuleType:
    """The entry point file `<folder>/<name>.py` as a module (its __main__ block does not run)."""
    path = entry_folder(command) / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_vodlake_{command}_{name}", path)
    if spec is None or spec.loader is None:
        raise VodlakeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_argv(command: str, argv: list[str], env: str | None) -> int:
    if command == "demo":
        name = "demo"
    else:
        names = available(command)
        if not argv or argv[0] in ("-h", "--help"):
            print(f"usage: vodlake {command} NAME [ARGS...]\n\n{command}s: {', '.join(names)}")
            return 0
        name, argv = argv[0], argv[1:]
        if name not in names:
            raise VodlakeError(
                f"no {command} named '{name}'", hint=f"choose one of: {', '.join(names)}"
            )
    module = load(command, name)
    if env and "--env" not in argv:
        argv = ["--env", env, *argv]
    return int(module.main(argv) or 0)
