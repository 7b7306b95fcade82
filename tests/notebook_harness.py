"""Execute a Databricks source-format notebook locally, cell by cell, like a job run would.

Cells are split on `# COMMAND ----------`; `# MAGIC %md` cells are skipped; `dbutils.widgets`
is provided (text/dropdown/get with the given parameters); `spark` and `display` are in scope.
A failing cell raises with the cell number, so the test names what broke.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"


class _Widgets:
    def __init__(self, params: dict[str, str]) -> None:
        self._values = dict(params)

    def text(self, name: str, default: str = "", label: str | None = None) -> None:
        self._values.setdefault(name, default)

    def dropdown(
        self, name: str, default: str, choices: list[str], label: str | None = None
    ) -> None:
        self._values.setdefault(name, default)

    def get(self, name: str) -> str:
        if name not in self._values:
            raise KeyError(f"widget '{name}' is not defined")
        return self._values[name]

    def removeAll(self) -> None:
        pass


class _DbUtils:
    def __init__(self, params: dict[str, str]) -> None:
        self.widgets = _Widgets(params)


def cells(path: Path) -> list[str]:
    text = path.read_text()
    if not text.startswith(HEADER):
        raise ValueError(f"{path} is not a Databricks source notebook (first line: {HEADER!r})")
    body = text[len(HEADER) :]
    out = []
    for cell in body.split(SEPARATOR):
        lines = cell.strip("\n").splitlines()
        if lines and all(line.startswith("# MAGIC") for line in lines if line.strip()):
            continue  # markdown or other magic cell
        out.append("\n".join(lines))
    return out


def run_notebook(path: Path, spark: Any, params: dict[str, str] | None = None) -> dict[str, Any]:
    """Run every code cell of `path`; return the notebook's globals (for assertions)."""
    displayed: list[Any] = []
    scope: dict[str, Any] = {
        "__name__": "__notebook__",
        "spark": spark,
        "dbutils": _DbUtils(params or {}),
        "display": displayed.append,
        "displayed": displayed,
    }
    for number, source in enumerate(cells(path), start=1):
        try:
            exec(compile(source, f"{path.name}[cell {number}]", "exec"), scope)
        except Exception as exc:
            raise AssertionError(f"{path.name}: cell {number} failed: {exc!r}") from exc
    return scope
