"""The migrations of a release's tree in the layouts the rehearsal runs, and which of them a
database already has.

- ``prisma``: a directory per migration, ``<dir>/<timestamp>_<name>/migration.sql``, rolled back
  by ``rollback.sql`` or ``down.sql`` beside it; the database's ``_prisma_migrations`` table
  says which are applied (finished and not rolled back).
- ``flyway``: ``V<version>__<description>.sql`` anywhere below the directory, undone by
  ``U<version>__*.sql``; ``flyway_schema_history`` says which versions succeeded. A
  ``V….sql.conf`` with ``executeInTransaction=false`` runs the migration outside a transaction,
  as Flyway would.
- ``numbered``: paired files ``<number>_<name>.up.sql`` and ``….down.sql`` (golang-migrate, sqlx
  and many hand-made layouts); no history table is read, so the migrations to apply are those
  added since the release last verified in the environment.

Repeatable migrations (Flyway's ``R__``) and migrations written in code are not rehearsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..kinds.repository.migrations import FLYWAY, flyway_version, has_sql
from ..kinds.repository.tree import SourceTree

LAYOUTS = ("prisma", "flyway", "numbered")
# Where each layout's migrations usually are, relative to the tree.
DEFAULT_DIRECTORY = {
    "prisma": "prisma/migrations",
    "flyway": "db/migration",
    "numbered": "migrations",
}
HISTORY_TABLE = {"prisma": "_prisma_migrations", "flyway": "flyway_schema_history"}
NUMBERED = re.compile(r"^(\d+)[_-].*\.up\.sql$|^(\d+)\.up\.sql$")
ROLLBACK_NAMES = ("rollback.sql", "down.sql")
NOT_IN_TRANSACTION = re.compile(r"^\s*executeInTransaction\s*=\s*false\s*$", re.I | re.M)


@dataclass(frozen=True)
class Migration:
    """One migration of the release, with the SQL that rolls it back (None: none holds SQL)."""

    key: str  # what the history table knows it by (Prisma's name, Flyway's version, the number)
    name: str
    file: str  # relative to the tree's top
    sql: str
    rollback_file: str | None
    rollback_sql: str | None
    transactional: bool = True
    order: tuple[Any, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "file": self.file,
            "rollback_file": self.rollback_file,
        }


class LayoutError(Exception):
    """The tree's migrations cannot be read in the layout; the message says why."""


def read(tree: SourceTree, directory: Path, layout: str, top: Path) -> list[Migration]:
    """The migrations below ``directory`` of ``tree`` in ``layout``, in the order they apply.
    File names are given relative to ``top`` (the top of the release's tree)."""
    if not directory.is_dir() or not tree.contains(directory):
        raise LayoutError(f"No migrations directory {_relative(directory, top)} in the tree.")
    reader = {"prisma": _prisma, "flyway": _flyway, "numbered": _numbered}[layout]
    found = reader(tree, directory, top)
    keys = [m.key for m in found]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise LayoutError(f"Two migrations share the {layout} version {duplicates[0]}.")
    return sorted(found, key=lambda m: m.order)


def _relative(path: Path, top: Path) -> str:
    try:
        return path.resolve().relative_to(top.resolve()).as_posix() or "."
    except ValueError:
        return path.name


def _rollback(tree: SourceTree, candidates: list[Path], top: Path) -> tuple[str | None, str | None]:
    for candidate in candidates:
        if candidate.is_file() and tree.contains(candidate):
            text = tree.read(candidate)
            if has_sql(text):
                return _relative(candidate, top), text
    return None, None


def _prisma(tree: SourceTree, directory: Path, top: Path) -> list[Migration]:
    found = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        forward = folder / "migration.sql"
        if not forward.is_file() or not tree.contains(forward):
            continue
        rollback_file, rollback_sql = _rollback(tree, [folder / n for n in ROLLBACK_NAMES], top)
        found.append(
            Migration(
                key=folder.name,
                name=folder.name,
                file=_relative(forward, top),
                sql=tree.read(forward),
                rollback_file=rollback_file,
                rollback_sql=rollback_sql,
                order=(folder.name,),
            )
        )
    return found


def _flyway(tree: SourceTree, directory: Path, top: Path) -> list[Migration]:
    undo: dict[str, list[Path]] = {}
    forward: list[tuple[str, Path]] = []
    for path in tree.files(["**/*.sql"], under=directory):
        match = FLYWAY.match(path.name)
        if match is None:
            continue
        version = flyway_version(match.group(2))
        if match.group(1) == "U":
            undo.setdefault(version, []).append(path)
        else:
            forward.append((version, path))
    found = []
    for version, path in forward:
        rollback_file, rollback_sql = _rollback(tree, sorted(undo.get(version, [])), top)
        conf = path.with_name(path.name + ".conf")
        in_transaction = not (
            conf.is_file() and tree.contains(conf) and NOT_IN_TRANSACTION.search(tree.read(conf))
        )
        found.append(
            Migration(
                key=version,
                name=path.name.removesuffix(".sql"),
                file=_relative(path, top),
                sql=tree.read(path),
                rollback_file=rollback_file,
                rollback_sql=rollback_sql,
                transactional=in_transaction,
                order=tuple(int(p) for p in version.split(".")),
            )
        )
    return found


def _numbered(tree: SourceTree, directory: Path, top: Path) -> list[Migration]:
    found = []
    for path in tree.files(["**/*.up.sql"], under=directory):
        match = NUMBERED.match(path.name)
        if match is None:
            continue
        number = match.group(1) or match.group(2)
        down = path.with_name(path.name.removesuffix(".up.sql") + ".down.sql")
        rollback_file, rollback_sql = _rollback(tree, [down], top)
        found.append(
            Migration(
                key=str(int(number)),
                name=path.name.removesuffix(".up.sql"),
                file=_relative(path, top),
                sql=tree.read(path),
                rollback_file=rollback_file,
                rollback_sql=rollback_sql,
                order=(int(number), path.name),
            )
        )
    return found


def applied(conn: psycopg.Connection[Any], layout: str) -> tuple[set[str], str] | None:
    """The keys of the migrations the database has, by its own history table, and where that
    was read (``public._prisma_migrations``); None for a layout that keeps no history table.
    A database without the table has none applied, as the tool would see it."""
    table = HISTORY_TABLE.get(layout)
    if table is None:
        return None
    row = conn.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = %s AND c.relkind IN ('r', 'p')"
        " ORDER BY n.nspname = 'public' DESC, n.nspname LIMIT 1",
        [table],
    ).fetchone()
    if row is None:
        return set(), f"{table}, which it lacks (nothing applied yet)"
    name = sql.Identifier(str(row[0]), table)
    if layout == "prisma":
        query = sql.SQL(
            "SELECT migration_name FROM {} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
        ).format(name)
        keys = {str(r[0]) for r in conn.execute(query).fetchall()}
    else:
        query = sql.SQL("SELECT version FROM {} WHERE success AND version IS NOT NULL").format(name)
        keys = {flyway_version(str(r[0])) for r in conn.execute(query).fetchall()}
    conn.rollback()
    return keys, f"{row[0]}.{table}"
