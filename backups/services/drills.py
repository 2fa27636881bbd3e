"""Restore drills: a backup restored into a fresh scratch database on the same server, checked
against its manifest and the database's own SQL assertions, then dropped whatever happened.

Order matters: the checksum is verified before anything else, so a damaged file never reaches
pg_restore; ``restore_seconds`` (the RTO) covers fetching, verifying, decrypting and restoring —
what a real recovery would take — and ``data_age_seconds`` (the RPO) is how old the restored
data was when it was back.

``drill_execute`` is the Celery task's body. A drill is claimed with a compare-and-swap on its
row (queued → running, or running but silent for longer than a task may live), its ``started_at``
serving as the lease: a worker that lost its drill to another cannot write the result."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking
from core.outbox.relay import task_queue
from releases.access import Permission, require

from .. import alerts, pg, restoring, storage
from ..models import Alert, Backup, Database, RestoreDrill
from ..wal import DsnError, describe_failure, dsn_from_env, safe_error
from .taking import backup_take_now

log = logging.getLogger(__name__)

DRILLER = Actor.of_system("restore-drill")
MAX_ATTEMPTS = 3
SCRATCH_PREFIX = "preflight_drill_"
SQL_TIMEOUT_MS = 60_000
ACTIVE = (RestoreDrill.Status.QUEUED, RestoreDrill.Status.RUNNING)


def stale_after() -> timedelta:
    """A running drill older than this has lost its worker: the hard time limit kills a task
    before then."""
    return timedelta(seconds=int(settings.CELERY_TASK_TIME_LIMIT) + 60)


def drill_request(
    *,
    actor: Actor,
    database: Database,
    backup: Backup | None = None,
    send_task: bool = True,
) -> RestoreDrill:
    """Queue a restore drill of ``backup`` (default: the latest verified backup Preflight took,
    or a fresh one when that is missing or older than the database's max_backup_age). While a
    drill of the database is queued or running, that drill is returned instead of a second.
    ``send_task=False`` leaves running it to the caller (the command line runs it in process)."""
    project = database.project
    with audit.refusals_recorded(
        actor=actor,
        action="drill.requested",
        obj=database,
        project_id=project.pk,
        attempted={"database": database.name, "backup": backup.pk if backup else None},
    ):
        require(actor, project, Permission.DRILL)
        _validate(database, backup)
        with transaction.atomic():
            locking.row(Database, database.pk)
            active = RestoreDrill.objects.filter(database=database, status__in=ACTIVE).first()
            if active is not None:
                return active
            drill = RestoreDrill.objects.create(
                database=database,
                backup=backup,
                requested_by=actor.user,
                requested_by_label=actor.label[:200],
            )
            audit.record(
                actor=actor,
                action="drill.requested",
                obj=drill,
                project_id=project.pk,
                after={"database": database.name, "backup": backup.pk if backup else None},
            )
            if send_task:
                enqueue(drill.pk)
    return drill


@dataclass(frozen=True)
class DrillsUnavailable:
    """Why no drill of a database can run on this installation, and what to set."""

    variable: str  # the environment variable to set; "" when the database names none
    problem: str


def drills_unavailable(database: Database) -> DrillsUnavailable | None:
    """Whether a drill of ``database`` could start here: it restores into a scratch database on
    the PostgreSQL server its connection string names, so without one it can only fail. The
    backups page asks this before it offers "Run drill now"."""
    if not database.dsn_env:
        return DrillsUnavailable(
            "",
            f"{database.name} names no environment variable for its connection string "
            "(dsn_env): a drill restores into a scratch database on that PostgreSQL server.",
        )
    try:
        dsn_from_env(database.dsn_env)
    except DsnError as exc:
        return DrillsUnavailable(database.dsn_env, str(exc))
    return None


def _validate(database: Database, backup: Backup | None) -> None:
    if not database.dsn_env:
        raise ValidationError(
            {
                "database": f"{database} names no environment variable for its connection "
                "string (dsn_env): a drill restores into a scratch database on that server."
            }
        )
    if backup is None:
        return
    if backup.database_id != database.pk:
        raise ValidationError({"backup": "The backup belongs to another database."})
    if backup.deleted_at is not None:
        raise ValidationError({"backup": "The backup was deleted by retention."})
    if backup.status != Backup.Status.SUCCEEDED:
        raise ValidationError(
            {"backup": f"The backup {backup.status}: there is nothing to restore."}
        )
    if not storage.readable(backup.location):
        raise ValidationError(
            {"backup": "Preflight can only restore backups stored at file:// or s3:// locations."}
        )


def enqueue(drill_id: int) -> None:
    """Queue the drill's task in the outbox: sent with the transaction's commit."""
    task_queue("backups.tasks.run_drill", drill_id)


def _claim(drill_id: int, now: datetime) -> bool:
    return bool(
        RestoreDrill.objects.filter(pk=drill_id)
        .filter(
            Q(status=RestoreDrill.Status.QUEUED)
            | Q(status=RestoreDrill.Status.RUNNING, started_at__lt=now - stale_after())
        )
        .update(status=RestoreDrill.Status.RUNNING, started_at=now, attempts=F("attempts") + 1)
    )


class DrillFailed(Exception):
    pass


@dataclass
class Outcome:
    validations: list[dict[str, Any]] = field(default_factory=list)
    backup: Backup | None = None
    checksum_ok: bool = False
    restore_seconds: float | None = None
    data_age_seconds: float | None = None
    error: str = ""

    def note(self, name: str, passed: bool, detail: str, **extra: Any) -> None:
        self.validations.append({"name": name, "passed": passed, "detail": detail, **extra})

    @property
    def passed(self) -> bool:
        return not self.error and all(v["passed"] for v in self.validations)


def drill_execute(drill_id: int) -> RestoreDrill | None:
    """Run a queued drill. None when it is someone else's or already done."""
    now = timezone.now()
    if not _claim(drill_id, now):
        return None
    drill = RestoreDrill.objects.select_related("database__project", "backup").get(pk=drill_id)
    lease = drill.started_at
    assert lease is not None
    outcome = Outcome(backup=drill.backup)
    if drill.attempts > MAX_ATTEMPTS:
        outcome.error = (
            f"Gave up after {MAX_ATTEMPTS} attempts: the worker running it stopped each time."
        )
        return _finish(drill, lease, outcome)
    try:
        _run(drill, outcome)
    except DrillFailed as exc:
        outcome.error = str(exc)
    except Exception as exc:  # a failure of any kind is the drill's result, not a stuck drill
        described = describe_failure(exc, drill.database.dsn_env)
        if isinstance(exc, psycopg.Error | DsnError | storage.StorageError | OSError):
            # Expected trouble; a driver's traceback could quote the connection string.
            log.warning("restore drill %s failed: %s", drill_id, described)
        else:
            log.exception("restore drill %s failed", drill_id)
        outcome.error = f"The drill stopped: {described}"
    return _finish(drill, lease, outcome)


def _backup_for(drill: RestoreDrill) -> Backup:
    database = drill.database
    backup = drill.backup or database.last_verified_backup(taken_only=True)
    if backup is None or (
        drill.backup is None and database.backup_is_stale(backup, timezone.now())
    ):
        backup = backup_take_now(database, actor=DRILLER)
        if backup.status != Backup.Status.SUCCEEDED:
            raise DrillFailed(f"Could not take a backup to restore: {backup.error}")
    RestoreDrill.objects.filter(pk=drill.pk).update(backup=backup)
    return backup


def _run(drill: RestoreDrill, outcome: Outcome) -> None:
    database = drill.database
    try:
        dsn = dsn_from_env(database.dsn_env)
    except DsnError as exc:
        raise DrillFailed(str(exc)) from None
    backup = outcome.backup = _backup_for(drill)
    if backup.deleted_at is not None:
        raise DrillFailed(f"Backup #{backup.pk} was deleted by retention.")
    restoring.drop_leftovers(dsn, SCRATCH_PREFIX, drill.pk)
    started = time.monotonic()
    with restoring.work_dir(f"drill-{drill.pk}-") as tmp:
        try:
            stored, checksum = restoring.fetch_verified(backup, tmp)
        except restoring.RestoreFailed as exc:
            if exc.checksum:
                outcome.validations.append(exc.checksum)
            raise DrillFailed(str(exc)) from None
        outcome.checksum_ok = True
        outcome.validations.append(checksum.as_validation())
        try:
            dump = restoring.decrypted(backup, stored, tmp)
        except restoring.RestoreFailed as exc:
            raise DrillFailed(str(exc)) from None
        scratch = restoring.scratch_name(SCRATCH_PREFIX, drill.pk)
        try:
            pg.create_database(dsn, scratch)
            try:
                restoring.restore(dsn, scratch, dump)
            except restoring.RestoreFailed as exc:
                raise DrillFailed(str(exc)) from None
            outcome.restore_seconds = time.monotonic() - started
            outcome.data_age_seconds = (timezone.now() - backup.started_at).total_seconds()
            with psycopg.connect(pg.dsn_for(dsn, scratch), connect_timeout=10) as conn:
                _validate_rows(conn, backup.manifest, outcome)
                _validate_sql(conn, database.validation_sql, outcome)
        finally:
            try:
                pg.drop_database(dsn, scratch)
            except psycopg.Error as exc:  # the watch drops it (scratch_leftovers_drop)
                log.error("could not drop scratch database %s: %s", scratch, safe_error(exc, dsn))


def scratch_leftovers_drop(dsn: str) -> list[str]:
    """Drop the server's scratch databases of drills that finished: left by a drop that failed
    at a drill's end, which no later attempt cleans up. Names of drills unknown here (another
    Preflight drilling on the same server) are left alone."""
    dropped = []
    for name in pg.databases_like(dsn, SCRATCH_PREFIX):
        drill_id = name.removeprefix(SCRATCH_PREFIX).split("_")[0]
        finished = (
            drill_id.isdigit()
            and RestoreDrill.objects.filter(
                pk=int(drill_id),
                status__in=(RestoreDrill.Status.PASSED, RestoreDrill.Status.FAILED),
            ).exists()
        )
        if finished:
            pg.drop_database(dsn, name)
            dropped.append(name)
    return dropped


def _validate_rows(
    conn: psycopg.Connection[Any], manifest: dict[str, Any], outcome: Outcome
) -> None:
    restored = pg.row_counts(conn)
    conn.rollback()
    if not manifest:
        outcome.note(
            "row counts",
            True,
            f"The backup has no manifest (an outside job reported it): {len(restored)} tables "
            "restored, counts not compared.",
        )
        return
    for table in sorted(set(manifest) | set(restored)):
        expected, actual = manifest.get(table), restored.get(table)
        if actual is None:
            outcome.note(
                f"table {table}",
                False,
                f"{table} is in the manifest ({expected} rows) but missing from the restored copy.",
                expected=expected,
            )
        elif expected is None:
            outcome.note(
                f"table {table}",
                False,
                f"{table} was restored ({actual} rows) but is not in the manifest.",
                actual=actual,
            )
        else:
            outcome.note(
                f"rows in {table}",
                expected == actual,
                f"{actual} rows"
                if expected == actual
                else f"expected {expected} rows, restored {actual}",
                expected=expected,
                actual=actual,
            )


def _validate_sql(conn: psycopg.Connection[Any], assertions: list[Any], outcome: Outcome) -> None:
    """The database's own assertions, each a query returning one true value, run read-only."""
    for position, item in enumerate(assertions or [], start=1):
        name = (
            str(item.get("name") or f"assertion {position}")
            if isinstance(item, dict)
            else f"assertion {position}"
        )
        query = item.get("sql") if isinstance(item, dict) else None
        if not isinstance(query, str) or not query.strip():
            outcome.note(name, False, "The assertion has no sql.")
            continue
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(f"SET LOCAL statement_timeout = {SQL_TIMEOUT_MS}")
                row = conn.execute(query).fetchone()
        except psycopg.Error as exc:
            outcome.note(name, False, f"The query failed: {str(exc).strip().splitlines()[0]}")
            continue
        value = row[0] if row else None
        outcome.note(
            name,
            value is True,
            "holds" if value is True else f"does not hold: the query returned {value!r}",
        )


def _finish(drill: RestoreDrill, lease: datetime, outcome: Outcome) -> RestoreDrill | None:
    passed = outcome.passed
    error = outcome.error
    if not passed and not error:
        failed = [v["detail"] for v in outcome.validations if not v["passed"]]
        error = "Validation failed: " + "; ".join(failed)
    database = drill.database
    backup = outcome.backup
    with transaction.atomic():
        if backup is not None and outcome.checksum_ok and not backup.verified:
            # A reported backup is verified once its checksum held in a drill.
            Backup.objects.filter(pk=backup.pk).update(verified=True)
        finished = RestoreDrill.objects.filter(
            pk=drill.pk, status=RestoreDrill.Status.RUNNING, started_at=lease
        ).update(
            status=RestoreDrill.Status.PASSED if passed else RestoreDrill.Status.FAILED,
            backup=backup,
            finished_at=timezone.now(),
            restore_seconds=outcome.restore_seconds,
            data_age_seconds=outcome.data_age_seconds,
            validations=outcome.validations,
            error=error,
        )
        if not finished:  # another worker took the drill over; its result stands
            return None
        drill.refresh_from_db()
        audit.record(
            actor=DRILLER,
            action="drill.finished",
            obj=drill,
            project_id=database.project_id,
            after={
                "status": drill.status,
                "backup": backup.pk if backup else None,
                "restore_seconds": drill.restore_seconds,
                "data_age_seconds": drill.data_age_seconds,
                "validations": len(outcome.validations),
                "failed": [v["name"] for v in outcome.validations if not v["passed"]],
            },
            outcome="success" if passed else "failure",
            message=error,
        )
    alerts.judge(
        database,
        Alert.Condition.DRILL_FAILED,
        active=not passed,
        message=f"Restore drill #{drill.pk} of {database} failed: {error}"
        if not passed
        else f"Restore drill #{drill.pk} of {database} passed.",
        data={"drill": drill.pk, "backup": backup.pk if backup else None},
    )
    if passed:
        alerts.judge(
            database,
            Alert.Condition.DRILL_OVERDUE,
            active=False,
            message=f"Restore drill #{drill.pk} passed.",
        )
    return drill
