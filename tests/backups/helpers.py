from __future__ import annotations

from collections.abc import Callable
from typing import Any

from preflight.api import gate_cache


def task_callbacks(callbacks: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The on-commit callbacks that send tasks: every audited change also retires the project's
    cached gate answers after commit, which these tests do not count."""
    return [c for c in callbacks if getattr(c, "func", None) is not gate_cache._new_state]
