"""A source tree a repository rule reads: bounded globbing and reading, and findings that name
file and line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 10_000
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SourceTree:
    """The root of the tree a rule judges. Rules read it only through these helpers, which keep
    every path inside the root (a symlink out of the tree does not count)."""

    root: Path

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

    def read(self, path: Path) -> str:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class Finding:
    """One problem at one place. ``message`` must never carry a secret's value (mask it)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"
