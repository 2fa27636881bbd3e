"""The rehearsal itself, on plain values (no ORM): restore a dump into a scratch database, apply
the migrations it lacks — each in its own transaction where it can run in one — while a second
connection watches the locks, run the data assertions and count the rows, roll the migrations
back in reverse order, and compare the schema with the one before. The scratch database is
dropped whatever happens.

Every step gets the time left before the rehearsal's deadline (pg_restore's limit, each
statement's statement_timeout); past it the rehearsal stops and says where."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from backups import pg, restoring
from backups.wal import safe_error

from ..kinds.postgres import assertion_holds
from . import layouts, schema, sqltext
from .layouts import Migration
from .locks import LockWatch

log = logging.getLogger(__name__)

ASSERTION_TIMEOUT_SECONDS = 60.0


class Stop(Exception):
    """The rehearsal cannot go on; the message says why (it is the rehearsal's error)."""


@dataclass(frozen=True)
class Plan:
    server_dsn: str  # the database's server (its connection string); the scratch goes there
    scratch: str
    dump: Path
    layout: str
    migrations: Sequence[Migration]  # all of the release's, in order
    # For a layout without a history table: the keys of the migrations added since the release
    # last verified in the environment, and where that came from.
    new_keys: set[str] | None = None
    new_source: str = ""
    assertions: Sequence[dict[str, Any]] = ()
    manifest: dict[str, int] = field(default_factory=dict)  # the backup's rows per table
    deadline: float = 0.0  # time.monotonic() past which the rehearsal stops
    timeout_seconds: float = 600.0
    max_scratch_bytes: int | None = None
    poll_seconds: float = 0.05


@dataclass
class Report:
    """What the rehearsal found, as stored with it."""

    restore_seconds: float | None = None
    pending_source: str = ""
    migrations: list[dict[str, Any]] = field(default_factory=list)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    row_counts: list[dict[str, Any]] = field(default_factory=list)
    schema_diff: str = ""
    rollback_ok: bool | None = None  # None: nothing was rolled back (nothing applied)
    migrate_seconds: float = 0.0
    rollback_seconds: float = 0.0
    total_seconds: float = 0.0
    scratch_bytes: int | None = None
    # Why the rehearsal could not finish (a restore that failed, its time or size limit), and
    # in which step: restore, migrate, assertions, rollback or schema. A migration whose SQL
    # fails is no such error: it is what the rehearsal found.
    error: str = ""
    stage: str = ""

    def fail(self, message: str) -> None:
        if not self.error:
            self.error = message

    @property
    def applied_all(self) -> bool:
        return not self.error and all(m["status"] == "applied" for m in self.migrations)

    @property
    def passed(self) -> bool:
        return (
            self.applied_all
            and self.rollback_ok is not False
            and all(a["passed"] for a in self.assertions)
        )


@dataclass
class Step:
    """One SQL file run: a migration or its rollback."""

    status: str = "applied"  # applied | failed
    seconds: float = 0.0
    rows: int = 0
    statements: int = 0
    transactional: bool = True
    locks: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    statement: str = ""
    line: int | None = None
    interrupted: bool = False  # stopped by the rehearsal's time or size limit, not by its SQL
    scratch_bytes: int = 0  # the scratch database's largest size seen meanwhile

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "statements": self.statements,
            "transactional": self.transactional,
            "locks": self.locks,
        }
        if self.error:
            values |= {"error": self.error, "statement": self.statement, "line": self.line}
        return values


def rehearse(plan: Plan) -> Report:
    report = Report()
    started = time.monotonic()
    try:
        pg.create_database(plan.server_dsn, plan.scratch)
    except psycopg.Error as exc:
        report.stage = "restore"
        report.fail(f"Could not create the scratch database: {safe_error(exc, plan.server_dsn)}")
        return report
    try:
        _run(plan, report)
    except Stop as exc:
        report.fail(str(exc))
    except psycopg.Error as exc:
        report.fail(f"The rehearsal stopped: {safe_error(exc, plan.server_dsn)}")
    finally:
        report.total_seconds = time.monotonic() - started
        try:
            pg.drop_database(plan.server_dsn, plan.scratch)
        except psycopg.Error as exc:  # the next attempt's leftover sweep drops it
            log.error(
                "could not drop scratch database %s: %s",
                plan.scratch,
                safe_error(exc, plan.server_dsn),
            )
    return report


def _left(plan: Plan) -> float:
    return plan.deadline - time.monotonic()


def _out_of_time(plan: Plan, doing: str) -> Stop:
    return Stop(f"The rehearsal ran out of its {plan.timeout_seconds / 60:g} minutes {doing}.")


def _run(plan: Plan, report: Report) -> None:
    scratch_dsn = pg.dsn_for(plan.server_dsn, plan.scratch)
    report.stage = "restore"
    started = time.monotonic()
    with _SizeWatch(plan, report) as size_watch:
        try:
            restoring.restore(
                plan.server_dsn,
                plan.scratch,
                plan.dump,
                timeout=max(1.0, _left(plan)),
                watch=size_watch,
            )
        except restoring.RestoreFailed as exc:
            raise Stop(str(exc)) from None
    report.restore_seconds = time.monotonic() - started

    with psycopg.connect(scratch_dsn, autocommit=True, connect_timeout=10) as conn:
        _restored_size(conn, plan, report)
        report.stage = "migrate"
        pending = _pending(conn, plan, report)
        if not pending:
            report.stage = "assertions"
            _assertions(conn, plan, report)
            _row_counts(conn, plan, report)
            report.stage = ""
            return
        before = _schema(plan, "before the migrations")
        # One watching connection for every migration and rollback of the rehearsal.
        with LockWatch(
            scratch_dsn,
            conn.info.backend_pid,
            max_bytes=plan.max_scratch_bytes,
            poll_seconds=plan.poll_seconds,
        ) as watch:
            applied = _migrate(conn, plan, watch, report, pending)
            if report.error:
                return
            if report.applied_all:
                report.stage = "assertions"
                _assertions(conn, plan, report)
                _row_counts(conn, plan, report)
            if applied:
                report.stage = "rollback"
                _roll_back(conn, plan, watch, report, applied)
                if report.error:
                    return
        if applied:
            report.stage = "schema"
            after = _schema(plan, "after the rollback")
            report.schema_diff = schema.diff(before, after)
            if report.schema_diff:
                report.rollback_ok = False
        report.stage = ""


def _restored_size(conn: psycopg.Connection[Any], plan: Plan, report: Report) -> None:
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    size = int(row[0]) if row else 0
    report.scratch_bytes = max(report.scratch_bytes or 0, size)
    limit = plan.max_scratch_bytes
    if limit is not None and size > limit:
        raise Stop(
            f"The restored copy takes {size / 2**20:.0f} MB, past the rehearsal's limit of "
            f"{limit / 2**20:.0f} MB."
        )


class _SizeWatch:
    """What pg_restore is asked every second: is the scratch database past its size limit?
    On one connection, opened at the first question."""

    def __init__(self, plan: Plan, report: Report) -> None:
        self.plan, self.report = plan, report
        self.conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> _SizeWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()

    def __call__(self) -> str | None:
        plan = self.plan
        try:
            if self.conn is None:
                self.conn = psycopg.connect(plan.server_dsn, autocommit=True, connect_timeout=5)
            row = self.conn.execute("SELECT pg_database_size(%s)", [plan.scratch]).fetchone()
        except psycopg.Error:
            return None
        size = int(row[0]) if row else 0
        self.report.scratch_bytes = max(self.report.scratch_bytes or 0, size)
        limit = plan.max_scratch_bytes
        if limit is not None and size > limit:
            return (
                f"The scratch database grew to {size / 2**20:.0f} MB while restoring, past the "
                f"rehearsal's limit of {limit / 2**20:.0f} MB."
            )
        return None


def _pending(conn: psycopg.Connection[Any], plan: Plan, report: Report) -> list[Migration]:
    history = layouts.applied(conn, plan.layout)
    if history is not None:
        keys, where = history
        report.pending_source = f"the database's own history table {where}"
        return [m for m in plan.migrations if m.key not in keys]
    assert plan.new_keys is not None, "a layout without a history table needs new_keys"
    report.pending_source = plan.new_source
    return [m for m in plan.migrations if m.key in plan.new_keys]


def _schema(plan: Plan, when: str) -> list[str]:
    if _left(plan) <= 0:
        raise _out_of_time(plan, f"before the schema could be read {when}")
    try:
        return schema.dump(plan.server_dsn, plan.scratch, timeout=_left(plan))
    except schema.SchemaDumpFailed as exc:
        raise Stop(f"Could not read the schema {when}: {exc}") from None


def _migrate(
    conn: psycopg.Connection[Any],
    plan: Plan,
    watch: LockWatch,
    report: Report,
    pending: list[Migration],
) -> list[Migration]:
    """Apply ``pending`` in order, stopping at the first that fails; returns those applied."""
    report.migrations = [
        m.as_dict() | {"status": "not_run", "rollback": {"status": "not_run"}} for m in pending
    ]
    applied: list[Migration] = []
    for migration, record in zip(pending, report.migrations, strict=True):
        if _left(plan) <= 0:
            report.fail(str(_out_of_time(plan, f"before {migration.name} could run")))
            break
        step = run_sql(conn, plan, watch, migration.sql, transactional=migration.transactional)
        report.scratch_bytes = max(report.scratch_bytes or 0, step.scratch_bytes)
        record.update(step.as_dict())
        if step.status != "applied":
            record["error_file"] = migration.file
            if step.interrupted:
                report.fail(f"{migration.name} was stopped: {step.error}.")
            break
        report.migrate_seconds += step.seconds
        applied.append(migration)
    return applied


def _roll_back(
    conn: psycopg.Connection[Any],
    plan: Plan,
    watch: LockWatch,
    report: Report,
    applied: list[Migration],
) -> None:
    """Apply the applied migrations' rollbacks in reverse order, stopping at the first that is
    missing or fails: the ones before it were written for the schema it would have left."""
    records = {r["key"]: r for r in report.migrations}
    report.rollback_ok = True
    for migration in reversed(applied):
        record = records[migration.key]
        if migration.rollback_sql is None:
            record["rollback"] = {"status": "missing"}
            report.rollback_ok = False
            return
        if _left(plan) <= 0:
            report.fail(str(_out_of_time(plan, f"before {migration.name} could be rolled back")))
            return
        step = run_sql(
            conn, plan, watch, migration.rollback_sql, transactional=migration.transactional
        )
        report.scratch_bytes = max(report.scratch_bytes or 0, step.scratch_bytes)
        record["rollback"] = step.as_dict() | {
            "status": "rolled_back" if step.status == "applied" else "failed"
        }
        if step.status != "applied":
            record["rollback"]["error_file"] = migration.rollback_file
            report.rollback_ok = False
            if step.interrupted:
                report.fail(f"Rolling back {migration.name} was stopped: {step.error}.")
            return
        report.rollback_seconds += step.seconds


def _statement_timeout(plan: Plan) -> int:
    left = _left(plan)
    if left <= 0:
        raise _out_of_time(plan, "during a migration")
    return max(1, int(left * 1000))


def _rows_touched(conn: psycopg.Connection[Any]) -> int:
    """Rows inserted, updated and deleted in the current transaction, triggers and functions
    included (a statement's rowcount misses those)."""
    row = conn.execute(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint"
        " FROM pg_stat_xact_user_tables"
    ).fetchone()
    return int(row[0]) if row else 0


def run_sql(
    conn: psycopg.Connection[Any], plan: Plan, watch: LockWatch, text: str, *, transactional: bool
) -> Step:
    """Run one SQL file statement by statement, watched by a second connection; in one
    transaction when every statement can run in one (a file's own BEGIN/COMMIT left out)."""
    statements = sqltext.split(text)
    transactional = transactional and not any(s.needs_autocommit for s in statements)
    if transactional:
        statements = [s for s in statements if not s.is_transaction_control]
    step = Step(transactional=transactional, statements=len(statements))
    current: sqltext.Statement | None = None
    watch.begin()
    started = time.monotonic()
    try:
        if transactional:
            with conn.transaction():
                # The view also holds this connection's counts of earlier transactions that
                # PostgreSQL has not flushed yet: only what this one adds is the migration's.
                before = _rows_touched(conn)
                for index, statement in enumerate(statements):
                    current = statement
                    conn.execute(f"SET LOCAL statement_timeout = {_statement_timeout(plan)}")
                    watch.statement(index, statement.line)
                    cursor = conn.execute(statement.sql)
                    step.rows += max(cursor.rowcount, 0)
                    watch.sample()
                step.rows = max(step.rows, _rows_touched(conn) - before)
                current = None
        else:
            for index, statement in enumerate(statements):
                current = statement
                conn.execute(f"SET statement_timeout = {_statement_timeout(plan)}")
                watch.statement(index, statement.line)
                cursor = conn.execute(statement.sql)
                step.rows += max(cursor.rowcount, 0)
                watch.sample()
            current = None
    except psycopg.Error as exc:
        step.status = "failed"
        step.error, step.interrupted = _error(exc, plan, watch)
        if current is not None:
            step.statement = current.shown()
            step.line = current.line + _lines_before(current.sql, exc)
    finally:
        step.seconds = time.monotonic() - started
        watch.released()
        if not transactional:
            # A statement that failed inside the file's own BEGIN left that transaction aborted:
            # end it, as psql does at the end of a file, before the connection is used again.
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.execute("ROLLBACK")
            conn.execute("SET statement_timeout = 0")
    step.locks = watch.locks()
    step.scratch_bytes = watch.peak_bytes
    for lock in step.locks:
        lock["rows"] = plan.manifest.get(lock["relation"])  # at backup time, where known
    return step


def _error(exc: psycopg.Error, plan: Plan, watch: LockWatch) -> tuple[str, bool]:
    """The error's message, and whether the rehearsal's own limits caused it."""
    if watch.stopped:
        return watch.stopped.rstrip("."), True
    if isinstance(exc, psycopg.errors.QueryCanceled) and _left(plan) <= 0.5:
        minutes = f"{plan.timeout_seconds / 60:g}"
        return f"the rehearsal's {minutes} minutes ran out during this statement", True
    diag = exc.diag
    message = diag.message_primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if diag.message_detail:
        message += f" ({diag.message_detail})"
    return safe_error(Exception(message), plan.server_dsn), False


def _lines_before(statement: str, exc: psycopg.Error) -> int:
    """Lines between the statement's start and the error's position, when PostgreSQL gave one."""
    position = exc.diag.statement_position
    if not position or not str(position).isdigit():
        return 0
    return statement[: int(position) - 1].count("\n")


def _assertions(conn: psycopg.Connection[Any], plan: Plan, report: Report) -> None:
    """Each assertion (as the postgres kind runs one) on the migrated copy, read-only."""
    for item in plan.assertions:
        name = str(item["name"])
        query = str(item["sql"])
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                limit = min(ASSERTION_TIMEOUT_SECONDS, max(1.0, _left(plan)))
                conn.execute(f"SET LOCAL statement_timeout = {int(limit * 1000)}")
                row = conn.execute(query).fetchone()
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            report.assertions.append(
                {
                    "name": name,
                    "sql": query,
                    "passed": False,
                    "detail": f"The query failed: {first}",
                }
            )
            continue
        if row is None:
            passed, detail = False, item.get("message") or "The assertion returned no row."
        elif assertion_holds(row[0]):
            passed, detail = True, f"holds ({row[0]!r})"
        else:
            passed = False
            detail = item.get("message") or f"does not hold: the query returned {row[0]!r}"
        report.assertions.append({"name": name, "sql": query, "passed": passed, "detail": detail})


def _row_counts(conn: psycopg.Connection[Any], plan: Plan, report: Report) -> None:
    """Rows per table after the migrations, next to the backup's manifest (judged by the checks
    that ask: a migration may add or remove rows on purpose)."""
    if _left(plan) <= 0:
        raise _out_of_time(plan, "before the rows could be counted")
    with conn.transaction():
        conn.execute(f"SET LOCAL statement_timeout = {int(max(1.0, _left(plan)) * 1000)}")
        counts = pg.row_counts(conn)
    report.row_counts = [
        {"table": table, "expected": plan.manifest.get(table), "actual": counts.get(table)}
        for table in sorted(set(counts) | set(plan.manifest))
    ]
