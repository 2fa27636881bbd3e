"""A source tree a repository rule reads: bounded globbing and reading, and findings that name
file and line."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import Outcome

if TYPE_CHECKING:
    from .source import ReleaseCommit

MAX_FILES = 10_000
MAX_FILE_BYTES = 1024 * 1024
# How many findings a result's detail lists (the rest are counted); evaluate_tree lists them all.
MAX_LISTED = 10
# Other people's code checked into the tree: a `**` glob does not descend into these unless the
# pattern names them.
DEPENDENCY_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "vendor", "__pycache__"})
# What walking the whole tree skips: those, other version control, package and tool caches.
VENDORED_DIRS = DEPENDENCY_DIRS | frozenset(
    {
        ".hg", ".svn", "bower_components", "jspm_packages", "site-packages", ".tox", ".nox",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".terraform", ".next", ".nuxt", ".gradle",
        ".cache",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SourceTree:
    """The root of the tree a rule judges. Rules read it only through these helpers, which keep
    every path inside the root (a symlink out of the tree does not count). ``commit`` is the
    release's commit when the tree came from the project's repository: what git rules ask."""

    root: Path
    commit: ReleaseCommit | None = None

    def glob(self, patterns: Iterable[str], *, under: Path | None = None) -> Iterator[Path]:
        base = under or self.root
        seen = 0
        for pattern in patterns:
            for path in sorted(base.glob(pattern)):
                seen += 1
                if seen > MAX_FILES:
                    return
                if path.resolve().is_relative_to(self.root):
                    yield path

    def matches(self, patterns: Iterable[str], *, under: Path | None = None) -> list[Path]:
        """The files and directories matching any of ``patterns``, each once, in a stable
        order, outside dependency directories (node_modules…) that the patterns do not name."""
        base = under or self.root
        found: dict[Path, None] = {}
        for pattern in patterns:
            named = set(Path(pattern).parts)
            for path in self.glob([pattern], under=base):
                if not DEPENDENCY_DIRS.intersection(path.relative_to(base).parts[:-1]) - named:
                    found.setdefault(path)
        return list(found)

    def files(self, patterns: Iterable[str], *, under: Path | None = None) -> list[Path]:
        return [path for path in self.matches(patterns, under=under) if path.is_file()]

    def walk(self, *, under: Path | None = None) -> Iterator[Path]:
        """Every file below ``under`` (default the root) in a stable order, skipping vendored
        directories and symlinks; at most MAX_FILES."""
        seen = 0
        for directory, dirs, files in os.walk(under or self.root):
            dirs[:] = sorted(d for d in dirs if d not in VENDORED_DIRS)
            base = Path(directory)
            for name in sorted(files):
                path = base / name
                if path.is_symlink():
                    continue
                seen += 1
                if seen > MAX_FILES:
                    return
                yield path

    def directories(self) -> Iterator[Path]:
        """The root and every directory below it, skipping vendored ones and symlinks."""
        for directory, dirs, _ in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in VENDORED_DIRS)
            yield Path(directory)

    def read(self, path: Path) -> str:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")

    def contains(self, path: Path) -> bool:
        """Whether ``path`` (after following symlinks) lies inside the tree."""
        return path.resolve().is_relative_to(self.root.resolve())

    def relative(self, path: Path) -> str:
        return Path(os.path.normpath(path)).relative_to(self.root).as_posix()


@dataclass(frozen=True)
class Finding:
    """One problem at one place. ``message`` must never carry a secret's value (mask it)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RuleOutcome(Outcome):
    """An outcome that keeps every finding (the detail lists the first ``MAX_LISTED``)."""

    findings: tuple[Finding, ...] = field(default=())
    summary: str = ""  # the detail without its list of findings


def judged(
    status: str,
    summary: str,
    findings: Sequence[Finding] = (),
    *,
    data: dict[str, Any] | None = None,
) -> RuleOutcome:
    """An outcome whose detail is ``summary`` followed by the first findings, naming how many
    more there are, so a detail stays one compact line."""
    listed = "; ".join(str(f) for f in findings[:MAX_LISTED])
    more = len(findings) - MAX_LISTED
    detail = f"{summary}: {listed}" if listed else summary
    if more > 0:
        detail += f"; and {more} more"
    if not detail.endswith("."):
        detail += "."
    return RuleOutcome(
        status, detail, data=data or {}, findings=tuple(findings), summary=summary.rstrip(".")
    )
