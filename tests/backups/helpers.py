from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from preflight.api import gate_cache


def task_callbacks(callbacks: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The on-commit callbacks that send tasks: every audited change also retires the project's
    cached gate answers after commit, which these tests do not count."""
    return [c for c in callbacks if getattr(c, "func", None) is not gate_cache._new_state]


def hanging_pg_tools(directory: Path) -> Path:
    """A PREFLIGHT_PG_BINDIR whose pg_dump and pg_restore never finish: a server that hangs."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("pg_dump", "pg_restore"):
        tool = directory / name
        tool.write_text("#!/bin/sh\nexec sleep 60\n")
        tool.chmod(0o755)
    return directory
