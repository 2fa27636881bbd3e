"""Rules over a release's source tree: files exist, migrations have rollback SQL, compose
services have limits and no plaintext secrets, deploy scripts have no fixed sleeps, CI exists.

The rules live in ``rules/`` (one module per family) and read the tree through ``SourceTree``.
``path`` is relative to PREFLIGHT_REPOSITORY_ROOT and may name the release, e.g.
``checkouts/{project}/{git_sha}``, where CI checks the release out before it asks for a run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from ..base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    check_placeholders,
    fill,
    need_str,
    only_keys,
    register,
)
from .rules import RULES
from .tree import SourceTree

# Settings whose values are paths or globs inside the tree.
PATH_KEYS = ("files", "rollback")


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    rule = need_str(config, "rule")
    if rule not in RULES:
        raise ConfigError("rule", f"unknown rule; choose one of {', '.join(RULES)}")
    only_keys(config, {"rule", "path"} | RULES[rule].keys)
    path = need_str(config, "path")
    check_placeholders("path", path)
    if Path(path).is_absolute() or ".." in Path(path).parts:
        raise ConfigError("path", "must be relative to PREFLIGHT_REPOSITORY_ROOT, without '..'")
    clean = RULES[rule].validate(config)
    for key in PATH_KEYS:
        for pattern in clean.get(key, []):
            if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
                raise ConfigError(key, f"{pattern!r} must stay inside the tree")
    return clean


def evaluate(ctx: CheckContext) -> Outcome:
    root = Path(settings.PREFLIGHT_REPOSITORY_ROOT).resolve()
    relative = fill(ctx.config["path"], ctx)
    tree = (root / relative).resolve()
    if not tree.is_relative_to(root):
        return Outcome("error", f"{relative} leads outside the repository root.")
    if not tree.is_dir():
        return Outcome("error", f"No source tree at {relative} (under PREFLIGHT_REPOSITORY_ROOT).")
    return RULES[ctx.config["rule"]].evaluate(SourceTree(tree), ctx.config)


KIND = register(
    Kind(
        name="repository",
        description="Rules over a checked-out source tree.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
    )
)
