"""Database migrations in a source tree and the SQL that rolls each back, in the layouts tools use:

- a directory per migration (Prisma, Diesel, hand-made): ``migrations/20250901_init/migration.sql``
  with ``rollback.sql`` or ``down.sql`` beside it;
- Flyway: ``V1__init.sql`` undone by ``U1__init.sql`` (same version, anywhere in the tree);
- paired files (golang-migrate, sqlx, …): ``0001_init.up.sql`` with ``0001_init.down.sql``;
- one file with both halves (dbmate): ``-- migrate:up`` … ``-- migrate:down`` ….

A rollback counts only if it holds SQL: an empty file, blanks, comments or a bare
``BEGIN; COMMIT;`` roll nothing back."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .tree import SourceTree

DEFAULT_LOCATIONS = ("**/migrations/*/", "**/V*__*.sql", "**/*.up.sql", "**/migrations/*.sql")
DEFAULT_ROLLBACK = ("*rollback*.sql", "down.sql")
FLYWAY = re.compile(r"^([VU])(\d+(?:[._]\d+)*)__.*\.sql$")
DBMATE_UP = re.compile(r"^--\s*migrate:up\b", re.MULTILINE)
DBMATE_DOWN = re.compile(r"^--\s*migrate:down\b.*$", re.MULTILINE)
NO_OP = frozenset({"begin", "commit", "end", "start transaction", "begin transaction", "rollback"})


@dataclass(frozen=True)
class Migration:
    name: str
    file: str  # the migration's forward SQL (or its directory), relative to the tree
    rollback: str | None  # the rollback that holds SQL, if any
    empty: tuple[tuple[str, int], ...] = ()  # rollbacks that hold none: (file, line)
    looked_for: str = ""


def find(tree: SourceTree, locations: Iterable[str], rollback: Iterable[str]) -> list[Migration]:
    """Every migration matched by ``locations`` (directories or files), with its rollback."""
    rollback = tuple(rollback)
    found: dict[str, Migration] = {}
    undo = _flyway_undo(tree)
    for pattern in locations:
        for path in tree.matches([pattern]):
            migration = None
            if path.is_dir():
                migration = _directory(tree, path, rollback)
            elif path.is_file():
                migration = _file(tree, path, undo)
            if migration is not None:
                found.setdefault(migration.file, migration)
    return sorted(found.values(), key=lambda m: m.file)


def _judge(
    tree: SourceTree, name: str, file: str, candidates: Iterable[Path], looked_for: str
) -> Migration:
    empty = []
    for candidate in candidates:
        if has_sql(tree.read(candidate)):
            return Migration(name, file, tree.relative(candidate), looked_for=looked_for)
        empty.append((tree.relative(candidate), 1))
    return Migration(name, file, None, tuple(empty), looked_for)


def _directory(tree: SourceTree, directory: Path, rollback: tuple[str, ...]) -> Migration | None:
    candidates = tree.files(rollback, under=directory)
    forward = [
        p
        for p in sorted(directory.glob("*.sql"))
        if p not in candidates
        and not p.name.endswith((".up.sql", ".down.sql"))
        and not FLYWAY.match(p.name)
    ]
    if not forward:  # not a migration: Django's __pycache__, a directory of paired files…
        return None
    main = next((p for p in forward if p.name in ("migration.sql", "up.sql")), forward[0])
    return _judge(tree, directory.name, tree.relative(main), candidates, ", ".join(rollback))


def _file(tree: SourceTree, path: Path, undo: dict[str, list[Path]]) -> Migration | None:
    name = path.name
    flyway = FLYWAY.match(name)
    if flyway:
        if flyway.group(1) != "V":
            return None
        candidates = undo.get(flyway_version(flyway.group(2)), [])
        return _judge(
            tree,
            name.removesuffix(".sql"),
            tree.relative(path),
            candidates,
            f"U{flyway.group(2)}__*.sql",
        )
    if name.endswith(".up.sql"):
        down = path.with_name(name.removesuffix(".up.sql") + ".down.sql")
        candidates = [down] if down.is_file() else []
        return _judge(
            tree, name.removesuffix(".up.sql"), tree.relative(path), candidates, down.name
        )
    if name.endswith(".down.sql") or not name.endswith(".sql"):
        return None
    text = tree.read(path)
    if not DBMATE_UP.search(text):
        return None
    relative = tree.relative(path)
    marker = DBMATE_DOWN.search(text)
    migration = name.removesuffix(".sql")
    if marker is None:
        return Migration(migration, relative, None, looked_for="a -- migrate:down section")
    if has_sql(text[marker.end() :]):
        return Migration(migration, relative, relative)
    line = text.count("\n", 0, marker.start()) + 1
    return Migration(migration, relative, None, ((relative, line),), "a -- migrate:down section")


def flyway_version(text: str) -> str:
    """Flyway's version: 1.1, 1_1 and 01.1.0 are the same."""
    parts = [int(p) for p in re.split(r"[._]", text)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts))


def _flyway_undo(tree: SourceTree) -> dict[str, list[Path]]:
    undo: dict[str, list[Path]] = {}
    for path in tree.files(["**/U*__*.sql"]):
        match = FLYWAY.match(path.name)
        if match and match.group(1) == "U":
            undo.setdefault(flyway_version(match.group(2)), []).append(path)
    return undo


def has_sql(text: str) -> bool:
    """Does ``text`` hold a statement, once comments, blanks and bare transaction control
    (BEGIN; COMMIT;) are set aside?"""
    code = _without_comments(text)
    if "'" in code or '"' in code or "$" in code:
        return True  # a literal or quoted name: there is a real statement
    statements = (" ".join(s.split()).lower() for s in code.split(";"))
    return any(s and s not in NO_OP for s in statements)


def _without_comments(text: str) -> str:
    """SQL without its -- and /* */ comments (nested, as PostgreSQL allows), strings kept."""
    out: list[str] = []
    at, length = 0, len(text)
    while at < length:
        char, ahead = text[at], text[at : at + 2]
        if ahead == "--":
            end = text.find("\n", at)
            at = length if end < 0 else end
        elif ahead == "/*":
            depth, at = 1, at + 2
            while at < length and depth:
                if text.startswith("/*", at):
                    depth, at = depth + 1, at + 2
                elif text.startswith("*/", at):
                    depth, at = depth - 1, at + 2
                else:
                    at += 1
        elif char in "'\"":
            end = text.find(char, at + 1)
            end = length if end < 0 else end + 1
            out.append(text[at:end])
            at = end
        else:
            out.append(char)
            at += 1
    return "".join(out)
