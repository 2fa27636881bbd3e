"""A database's schema as text that two dumps can be compared by: ``pg_dump --schema-only``,
normalised, and the difference between two of them.

Normalising leaves out what differs between two dumps of the same schema (comments, SET lines,
psql's \\restrict keys) and sorts a table's columns and constraints: a rollback that drops a
column and adds it back restores the table, but PostgreSQL puts the column last, and that is no
difference a rollback could avoid."""

from __future__ import annotations

import difflib
import re
import subprocess

from backups import pg

SKIPPED = re.compile(r"^(?:--|SET |SELECT pg_catalog\.set_config\(|\\restrict |\\unrestrict )")
TABLE_START = re.compile(r"^CREATE (?:UNLOGGED |FOREIGN )?TABLE .*\($")
DIFF_LINES = 400


class SchemaDumpFailed(Exception):
    pass


def dump(dsn: str, dbname: str, *, timeout: float) -> list[str]:
    """The schema of ``dbname`` on the server of ``dsn``, normalised, one line per item."""
    conninfo, env = pg.client_args(dsn, dbname=dbname)
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, arguments not from a shell
            [
                pg.program("pg_dump"),
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "--no-password",
                f"--dbname={conninfo}",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=max(1.0, timeout),
        )
    except subprocess.TimeoutExpired:
        raise SchemaDumpFailed(
            f"pg_dump --schema-only did not finish within {timeout:.0f} s."
        ) from None
    if done.returncode != 0:
        detail = pg.failure_detail(done.stderr.decode(errors="replace"), done.returncode, env)
        raise SchemaDumpFailed(f"pg_dump --schema-only failed: {detail}")
    return normalise(done.stdout.decode(errors="replace"))


def normalise(text: str) -> list[str]:
    lines: list[str] = []
    table: list[str] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or SKIPPED.match(line):
            continue
        if table is not None:
            if line.startswith(")"):
                lines.extend(sorted(table))
                lines.append(line)
                table = None
            else:
                table.append(line.rstrip(","))
            continue
        lines.append(line)
        if TABLE_START.match(line):
            table = []
    if table:
        lines.extend(sorted(table))
    return lines


def diff(before: list[str], after: list[str]) -> str:
    """The lines that differ, as a unified diff (empty when the schemas are the same)."""
    if before == after:
        return ""
    out = list(
        difflib.unified_diff(
            before,
            after,
            "schema before the migrations",
            "schema after the rollback",
            n=3,
            lineterm="",
        )
    )
    if len(out) > DIFF_LINES:
        out = [*out[:DIFF_LINES], f"… {len(out) - DIFF_LINES} more lines"]
    return "\n".join(out)
