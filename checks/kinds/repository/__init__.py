"""Rules over a release's source tree: files exist, migrations have rollback SQL, compose
services have limits and no plaintext secrets, deploy scripts have no fixed sleeps, CI exists.

The rules live in ``rules/`` (one module per family) and read the tree through ``SourceTree``.
Where the tree comes from:

- a project that names its git repository in the catalog (``repository:``): the release's commit,
  fetched into the project's mirror (``source/``); ``path`` is then a directory of that commit's
  tree (default ``.``), and git rules can ask about the commit itself;
- otherwise ``path`` is relative to PREFLIGHT_REPOSITORY_ROOT and may name the release, e.g.
  ``checkouts/{project}/{git_sha}``, where CI checks the release out before it asks for a run."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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
from . import source
from .rules import RULES
from .tree import SourceTree

log = logging.getLogger(__name__)

# Settings whose values are paths or globs inside the tree.
PATH_KEYS = ("files", "rollback")


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    rule = need_str(config, "rule")
    if rule not in RULES:
        raise ConfigError("rule", f"unknown rule; choose one of {', '.join(RULES)}")
    only_keys(config, {"rule", "path"} | RULES[rule].keys)
    # Required for a project without a repository; the catalog import checks that, knowing both.
    if "path" in config:
        path = need_str(config, "path")
        check_placeholders("path", path)
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise ConfigError(
                "path",
                "must be relative (to the commit's tree, or to PREFLIGHT_REPOSITORY_ROOT), without '..'",
            )
    clean = RULES[rule].validate(config)
    for key in PATH_KEYS:
        for pattern in clean.get(key, []):
            if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
                raise ConfigError(key, f"{pattern!r} must stay inside the tree")
    return clean


class TreeUnavailable(Exception):
    """The release's tree cannot be read; the message says why, in one line."""


@dataclass(frozen=True)
class ReleaseTree:
    """A directory of the release's tree (``tree``), and the top of that tree (``top``: the
    commit's root, or the directory under PREFLIGHT_REPOSITORY_ROOT) that git's paths are
    relative to."""

    tree: SourceTree
    top: Path


@contextmanager
def release_tree(ctx: CheckContext, path: str | None) -> Iterator[ReleaseTree]:
    """The release's source tree for a check: the commit fetched from the project's repository
    (``path`` a directory of it, default ``.``), or ``path`` under PREFLIGHT_REPOSITORY_ROOT.
    Held open (a commit's tree cannot be evicted) while the caller reads it."""
    if ctx.repository:
        with _commit_tree(ctx, path or ".") as opened:
            yield opened
        return
    if path is None:
        raise TreeUnavailable(
            "No source tree: name the project's repository in the catalog, or the tree's path under PREFLIGHT_REPOSITORY_ROOT."
        )
    yield plain_tree(ctx, path)


def plain_tree(ctx: CheckContext, path: str) -> ReleaseTree:
    """``path`` (placeholders filled from ``ctx``) under PREFLIGHT_REPOSITORY_ROOT."""
    root = Path(settings.PREFLIGHT_REPOSITORY_ROOT).resolve()
    relative = fill(path, ctx)
    tree = (root / relative).resolve()
    if not tree.is_relative_to(root):
        raise TreeUnavailable(f"{relative} leads outside the repository root.")
    if not tree.is_dir():
        raise TreeUnavailable(f"No source tree at {relative} (under PREFLIGHT_REPOSITORY_ROOT).")
    return ReleaseTree(SourceTree(tree), tree)


@contextmanager
def _commit_tree(ctx: CheckContext, path: str) -> Iterator[ReleaseTree]:
    """The release's commit, fetched from the project's repository (once per run)."""
    assert ctx.repository is not None
    relative = fill(path, ctx)
    try:
        fetched = source.checkout(
            project=ctx.project_slug,
            repository=ctx.repository,
            sha=ctx.git_sha,
            also=(ctx.verified.git_sha,) if ctx.verified else (),
            run_id=ctx.run_id,
        )
        commit = source.ReleaseCommit(
            revision=fetched.revision,
            repository=fetched.repository,
            version=ctx.version,
            environment=ctx.environment_slug,
            verified=ctx.verified,
        )
        with fetched.tree.reading() as root:
            top = root.resolve()
            tree = (top / relative).resolve()
            if not tree.is_relative_to(top):
                raise TreeUnavailable(f"{relative} leads outside the commit's tree.")
            if not tree.is_dir():
                raise TreeUnavailable(
                    f"No directory {relative} in commit {ctx.git_sha[:12]}'s tree."
                )
            yield ReleaseTree(SourceTree(tree, commit=commit), top)
    except source.SourceError as exc:
        log.warning("check %s: %s", ctx.code, exc)
        raise TreeUnavailable(str(exc)) from None


def evaluate(ctx: CheckContext) -> Outcome:
    try:
        with release_tree(ctx, ctx.config.get("path")) as opened:
            return RULES[ctx.config["rule"]].evaluate(opened.tree, ctx.config)
    except TreeUnavailable as exc:
        return Outcome("error", str(exc))


KIND = register(
    Kind(
        name="repository",
        description="Rules over a checked-out source tree.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
    )
)
