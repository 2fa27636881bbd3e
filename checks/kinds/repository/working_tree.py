"""The repository checks of a catalog file, judged on a working tree: what ``evaluate_tree`` runs
so a team can fix findings before pushing. It reads no database: the catalog comes from a file
(in the form ``catalog export`` writes) and the tree from disk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..base import ConfigError, Outcome
from . import validate
from .rules import RULES
from .rules.git import GIT_RULES
from .tree import SourceTree


class CatalogUnusable(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TreeCheck:
    code: str
    title: str
    severity: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Catalog:
    project: str
    checks: list[TreeCheck]
    skipped: int  # checks of other kinds, which need a run
    has_repository: bool  # `path` is then relative to the release's tree


def read_catalog(text: str) -> Catalog:
    """The repository checks of a catalog, their configs validated as an import would."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogUnusable([f"not valid YAML: {exc}"]) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("checks"), list):
        raise CatalogUnusable(["a catalog is a mapping with a list of 'checks'"])
    checks, problems, skipped = [], [], 0
    for index, entry in enumerate(data["checks"]):
        if not isinstance(entry, Mapping):
            problems.append(f"checks[{index}]: must be a mapping")
            continue
        if entry.get("kind") != "repository":
            skipped += 1
            continue
        code = str(entry.get("code") or f"checks[{index}]")
        try:
            config = validate(entry.get("config") or {})
        except ConfigError as exc:
            problems.append(f"{code} field config.{exc.field}: {exc.message}")
            continue
        checks.append(
            TreeCheck(code, str(entry.get("title", "")), str(entry.get("severity", "")), config)
        )
    if problems:
        raise CatalogUnusable(problems)
    if not checks:
        raise CatalogUnusable(["the catalog has no repository checks"])
    return Catalog(str(data.get("project") or ""), checks, skipped, bool(data.get("repository")))


def evaluate(root: Path, check: TreeCheck, catalog: Catalog) -> Outcome:
    """Judge ``check`` on the working tree at ``root``. With a repository in the catalog a
    check's ``path`` is relative to the release's tree, so to ``root`` (a path with placeholders
    means the tree itself: a working tree has no version yet); without one, ``path`` names where
    PREFLIGHT_REPOSITORY_ROOT holds each release, and ``root`` is that release's tree."""
    if check.config["rule"] in GIT_RULES:
        return Outcome("skipped", "Reads the release's git history: judged in a readiness run.")
    root = root.resolve()
    tree = root
    relative = str(check.config.get("path", "."))
    if catalog.has_repository and "{" not in relative:
        tree = (root / relative).resolve()
        if not tree.is_relative_to(root) or not tree.is_dir():
            return Outcome("error", f"No directory {relative} in the tree.")
    return RULES[check.config["rule"]].evaluate(SourceTree(tree), check.config)
