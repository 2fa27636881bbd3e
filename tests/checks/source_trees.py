"""Helpers for repository-rule tests: a tree under PREFLIGHT_REPOSITORY_ROOT, written file by
file, judged through the kind as a run would (config validated as an import would)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from checks.kinds import Outcome
from checks.kinds.repository import evaluate

from .conftest import context


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))


def judge(rule: str, **config: Any) -> Outcome:
    return evaluate(context("repository", {"rule": rule, "path": "{project}/{version}", **config}))


def assert_never_shown(outcome: Outcome, *secrets: str) -> None:
    """No secret's value in the detail or the data a result stores."""
    stored = f"{outcome.detail} {outcome.data}"
    for secret in secrets:
        assert secret not in stored, f"{secret!r} is shown"
