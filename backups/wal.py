"""Reading and judging a PostgreSQL server's WAL archiving (archive_mode, archive_command,
pg_stat_archiver). Used by the ``postgres`` readiness check and by the WAL sampling task.

Connection strings come from the environment and never appear in messages: ``safe_error``
removes the password from any driver error before it is shown or stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from core.config import secret_value

HEALTHY, STALE, FAILING, UNKNOWN = "healthy", "stale", "failing", "unknown"


class DsnError(Exception):
    """The connection string is missing or unusable; the message never contains it."""


def dsn_from_env(name: str) -> str:
    value = secret_value(name)
    if not value:
        raise DsnError(
            f"The environment variable {name} (the database's connection string) is not set."
        )
    if not value.startswith(("postgres://", "postgresql://")) and "=" not in value:
        raise DsnError(f"{name} does not hold a PostgreSQL connection string.")
    return value


def safe_error(exc: BaseException, dsn: str) -> str:
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return f"{type(exc).__name__} (the connection string is malformed)"
    if password:
        message = message.replace(str(password), "***")
    return message


def describe_failure(exc: BaseException, dsn_env: str) -> str:
    """An exception's message, safe to store, log or show. A driver's message may quote the
    connection string it could not parse, password included: with no readable connection
    string to mask it by, only the error's type is told."""
    if isinstance(exc, psycopg.Error):
        try:
            return safe_error(exc, dsn_from_env(dsn_env))
        except DsnError:
            return type(exc).__name__
    return str(exc) or type(exc).__name__


def connect(dsn: str, *, timeout: float, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, connect_timeout=max(1, int(timeout)), **kwargs)
    except psycopg.ProgrammingError:
        raise DsnError("The connection string is malformed.") from None


@dataclass(frozen=True)
class ArchiverStatus:
    archive_mode: str
    archive_command: str
    archived_count: int
    failed_count: int
    last_archived_wal: str
    last_archived_at: datetime | None
    last_failed_wal: str
    last_failed_at: datetime | None
    server_now: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_archiver(dsn: str, *, timeout: float = 10) -> ArchiverStatus:
    with connect(dsn, timeout=timeout, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        mode = conn.execute("SHOW archive_mode").fetchone()
        command = conn.execute("SHOW archive_command").fetchone()
        row = conn.execute(
            "SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), last_archived_time,"
            " coalesce(last_failed_wal, ''), last_failed_time, now() FROM pg_stat_archiver"
        ).fetchone()
    assert mode is not None
    assert command is not None
    assert row is not None
    return ArchiverStatus(
        archive_mode=str(mode[0]),
        archive_command=str(command[0]),
        archived_count=int(row[0]),
        failed_count=int(row[1]),
        last_archived_wal=row[2],
        last_archived_at=row[3],
        last_failed_wal=row[4],
        last_failed_at=row[5],
        server_now=row[6],
    )


@dataclass(frozen=True)
class Judgement:
    state: str
    message: str


def judge(status: ArchiverStatus, *, max_age: timedelta) -> Judgement:
    """healthy: archiving on and a segment archived within ``max_age``; stale: on, but nothing
    archived lately (an idle server needs archive_timeout to keep segments flowing); failing:
    off, no command, or the last attempt failed after the last success."""
    if status.archive_mode not in ("on", "always"):
        return Judgement(
            FAILING,
            # Starts with a word, not the setting's name: check details are sentence-cased.
            f"WAL archiving is off (archive_mode is {status.archive_mode}): no WAL is archived, "
            "so point-in-time recovery is impossible.",
        )
    if not status.archive_command.strip() or status.archive_command.strip() == "(disabled)":
        return Judgement(
            FAILING,
            "WAL archiving has no command (archive_mode is on but archive_command is empty): "
            "segments pile up unarchived.",
        )
    if status.last_failed_at and (
        status.last_archived_at is None or status.last_failed_at > status.last_archived_at
    ):
        return Judgement(
            FAILING,
            f"archiving is failing: segment {status.last_failed_wal} failed at "
            f"{status.last_failed_at:%Y-%m-%d %H:%M:%S} UTC ({status.failed_count} failures in all).",
        )
    if status.last_archived_at is None:
        return Judgement(STALE, "archiving is on but no segment has been archived yet.")
    age = status.server_now - status.last_archived_at
    if age > max_age:
        minutes = int(age.total_seconds() // 60)
        return Judgement(
            STALE, f"the last segment ({status.last_archived_wal}) was archived {minutes} min ago."
        )
    return Judgement(
        HEALTHY,
        f"archiving healthy: {status.archived_count} segments archived, the last "
        f"({status.last_archived_wal}) {int(age.total_seconds())} s ago.",
    )
