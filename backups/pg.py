"""PostgreSQL plumbing for backups and drills: the client programs, connection settings for them
without the password on the command line, per-table row counts, scratch databases."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .wal import DsnError

# Ordinary tables of the application: not the server's, not temporary, not an extension's.
TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1, 2
"""


class ToolMissing(Exception):
    pass


def tool_timeout() -> float:
    """Seconds pg_dump or pg_restore may run. The worker runs tasks in threads, where Celery's
    time limits cannot stop a task, so a hung client program would hold its worker forever."""
    return float(settings.CELERY_TASK_SOFT_TIME_LIMIT)


def failure_detail(stderr: str, code: int, env: dict[str, str]) -> str:
    """The last line a client program wrote, with the password it was given masked."""
    lines = stderr.strip().splitlines()
    detail = lines[-1] if lines else f"exit status {code}"
    password = env.get("PGPASSWORD")
    return detail.replace(password, "***") if password else detail


def program(name: str) -> str:
    """pg_dump / pg_restore: from PREFLIGHT_PG_BINDIR, else the newest server install, else PATH.
    The newest is preferred because pg_dump refuses servers newer than itself."""
    configured = settings.PREFLIGHT_PG_BINDIR
    if configured:
        candidate = Path(configured) / name
        if candidate.exists():
            return str(candidate)
        raise ToolMissing(f"{name} is not in PREFLIGHT_PG_BINDIR ({configured}).")
    installed = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4])
    )
    if installed:
        return installed[-1]
    found = shutil.which(name)
    if found:
        return found
    raise ToolMissing(f"{name} is not installed (install the PostgreSQL client programs).")


def client_args(dsn: str, *, dbname: str | None = None) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and the environment carrying it: command
    lines are visible to every user of the machine, a child's environment is not."""
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise DsnError("The connection string is malformed.") from None
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    if dbname is not None:
        params["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def dsn_for(dsn: str, dbname: str) -> str:
    params: dict[str, Any] = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in params.items()})


def table_names(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [(str(s), str(t)) for s, t in conn.execute(TABLES_SQL).fetchall()]


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows per ordinary table (partitions counted as themselves, as pg_dump dumps them),
    keyed ``schema.table``."""
    counts: dict[str, int] = {}
    for schema, table in table_names(conn):
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def create_database(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def databases_like(dsn: str, prefix: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1", [prefix]
        ).fetchall()
    return [str(r[0]) for r in rows]
