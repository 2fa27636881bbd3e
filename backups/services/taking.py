"""Backups Preflight takes itself: ``pg_dump --format=custom`` of a configured database, with a
manifest of row counts read in the very snapshot the dump reads, optional encryption, storage
in a directory or a bucket, and the checksum verified by reading the stored file back.

``backup_request`` queues one (a person, the command line or the schedule); ``backup_take`` is
the Celery task's body and is safe to run twice: a session advisory lock keyed by the backup
lets one worker at a time take it, and a backup that is no longer running is left alone."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import psycopg
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking
from core.outbox.relay import task_queue
from releases.access import Permission, require

from .. import alerts, crypto, pg, storage
from ..models import Alert, Backup, Database
from ..wal import DsnError, describe_failure, dsn_from_env

log = logging.getLogger(__name__)

TAKER = Actor.of_system("backup")
# What a backup's audit events show: its result, plus what each way of recording it adds.
RESULT_FIELDS = (
    "status",
    "started_at",
    "finished_at",
    "size_bytes",
    "sha256",
    "location",
    "encrypted",
)
TAKEN_FIELDS = (*RESULT_FIELDS, "verified", "error")


class DumpFailed(Exception):
    pass


def backup_request(
    *,
    actor: Actor,
    database: Database,
    keep_until: datetime | None = None,
    unless_running: bool = False,
) -> Backup:
    """Queue a backup of the database, taken by a worker after this transaction commits.
    ``unless_running`` returns the backup Preflight is taking already, if any, instead of a
    second: the schedule uses it, so a schedule delivered twice queues one backup."""
    project = database.project
    with audit.refusals_recorded(
        actor=actor,
        action="backup.requested",
        obj=database,
        project_id=project.pk,
        attempted={"database": database.name},
    ):
        require(actor, project, Permission.BACKUP)
        with transaction.atomic():
            if unless_running:
                locking.row(Database, database.pk)
                running = Backup.objects.filter(
                    database=database, source=Backup.Source.TAKEN, status=Backup.Status.RUNNING
                ).first()
                if running is not None:
                    return running
            backup = _new_backup(database, keep_until=keep_until)
            audit.record(
                actor=actor,
                action="backup.requested",
                obj=backup,
                project_id=project.pk,
                after={"database": database.name, "keep_until": keep_until},
            )
            task_queue("backups.tasks.take_backup", backup.pk)
    return backup


def _new_backup(database: Database, *, keep_until: datetime | None = None) -> Backup:
    return Backup.objects.create(
        database=database,
        kind=Backup.Kind.FULL,
        source=Backup.Source.TAKEN,
        status=Backup.Status.RUNNING,
        started_at=timezone.now(),
        keep_until=keep_until,
        reported_by_label="preflight",
    )


def backup_take_now(database: Database, *, actor: Actor = TAKER) -> Backup:
    """Take a backup in this process (a drill that has nothing to restore, the command line)."""
    backup = _new_backup(database)
    taken = backup_take(backup.pk, actor=actor)
    return taken if taken is not None else Backup.objects.get(pk=backup.pk)


def backup_take(backup_id: int, *, actor: Actor = TAKER) -> Backup | None:
    """Take a queued backup. None when another worker is taking it right now."""
    if not locking.backup_try(backup_id):
        return None
    try:
        backup = Backup.objects.select_related("database__project").filter(pk=backup_id).first()
        if backup is None or backup.status != Backup.Status.RUNNING:
            return backup
        try:
            taken = _dump(backup)
        except Exception as exc:
            expected = isinstance(
                exc,
                DsnError
                | DumpFailed
                | pg.ToolMissing
                | storage.StorageError
                | crypto.BackupKeyError
                | psycopg.Error
                | OSError,
            )
            if not expected:
                log.exception("backup %s failed", backup_id)
            return _finish_failed(backup, describe_failure(exc, backup.database.dsn_env), actor)
        return _finish_taken(backup, taken, actor)
    finally:
        locking.backup_release(backup_id)


def backups_reap(*, older_than: datetime) -> list[Backup]:
    """Fail backups requested before ``older_than`` that no worker is taking: the broker lost
    the task or its worker died. A worker still on one holds its advisory lock; those stay."""
    reaped = []
    for backup_id in Backup.objects.filter(
        source=Backup.Source.TAKEN, status=Backup.Status.RUNNING, started_at__lt=older_than
    ).values_list("pk", flat=True):
        if not locking.backup_try(backup_id):
            continue
        try:
            backup = Backup.objects.select_related("database__project").get(pk=backup_id)
            if backup.status == Backup.Status.RUNNING:
                reaped.append(
                    _finish_failed(
                        backup,
                        "No worker finished it: the task was lost or its worker stopped.",
                        TAKER,
                    )
                )
        finally:
            locking.backup_release(backup_id)
    return reaped


@dataclass(frozen=True)
class Taken:
    snapshot_at: datetime
    location: str
    sha256: str
    size_bytes: int
    manifest: dict[str, int]
    encrypted: bool
    verified: bool


def work_dir() -> Path:
    """Where dumps are written before they are stored: next to the backups when they stay on
    this machine, so storing one is a rename."""
    configured = settings.PREFLIGHT_BACKUP_WORK_DIR
    if configured:
        path = Path(configured)
    elif settings.PREFLIGHT_BACKUP_S3_BUCKET:
        path = Path(tempfile.gettempdir())
    else:
        path = Path(settings.PREFLIGHT_BACKUP_DIR) / ".incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


class _HashingWriter:
    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)


def _dump(backup: Backup) -> Taken:
    database = backup.database
    if not database.dsn_env:
        raise DsnError(f"{database} names no environment variable for its connection string.")
    dsn = dsn_from_env(database.dsn_env)
    encrypt = crypto.key_available()
    key = crypto.load_key() if encrypt else b""
    with tempfile.TemporaryDirectory(dir=work_dir(), prefix=f"backup-{backup.pk}-") as tmp:
        dump = Path(tmp) / "dump"
        snapshot_at, manifest = _pg_dump_in_snapshot(dsn, dump)
        sealed = Path(tmp) / "sealed"
        with dump.open("rb") as source, sealed.open("wb") as target:
            writer = _HashingWriter(target)
            if encrypt:
                crypto.encrypt_stream(source, writer, key)  # type: ignore[arg-type]
            else:
                while block := source.read(storage.READ_CHUNK):
                    writer.write(block)
        dump.unlink()
        project = database.project.slug
        name = f"{snapshot_at:%Y%m%dT%H%M%SZ}-{backup.pk}.dump" + (".enc" if encrypt else "")
        location = storage.put(sealed, f"{project}/{database.name}/{name}")
    sha256 = writer.digest.hexdigest()
    # Read the stored copy back: a file is only as good as what the storage returns.
    verified = storage.sha256_of(location) == sha256
    return Taken(
        snapshot_at=snapshot_at,
        location=location,
        sha256=sha256,
        size_bytes=writer.size,
        manifest=manifest,
        encrypted=encrypt,
        verified=verified,
    )


def _pg_dump_in_snapshot(dsn: str, target: Path) -> tuple[datetime, dict[str, int]]:
    """Export a snapshot from a REPEATABLE READ transaction, dump it with pg_dump --snapshot and
    count every table's rows in the same transaction meanwhile; the transaction stays open
    until pg_dump is done, which keeps the snapshot importable."""
    conninfo, env = pg.client_args(dsn)
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot(), now()").fetchone()
        assert row is not None
        snapshot, snapshot_at = str(row[0]), row[1]
        errors = target.with_name("pg_dump.log")
        with errors.open("wb") as log_file:
            process = subprocess.Popen(  # noqa: S603 - fixed program, arguments not from a shell
                [
                    pg.program("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--no-password",
                    f"--file={target}",
                    f"--dbname={conninfo}",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            try:
                manifest = pg.row_counts(conn)
            except BaseException:
                process.kill()
                process.wait()
                raise
            try:
                code = process.wait(timeout=pg.tool_timeout())
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise DumpFailed(
                    f"pg_dump did not finish within {pg.tool_timeout():.0f} seconds."
                ) from None
        conn.rollback()
    if code != 0:
        detail = pg.failure_detail(errors.read_text(errors="replace"), code, env)
        raise DumpFailed(f"pg_dump failed: {detail}")
    return snapshot_at, manifest


def _finish_taken(backup: Backup, taken: Taken, actor: Actor) -> Backup:
    database = backup.database
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).update(
            status=Backup.Status.SUCCEEDED if taken.verified else Backup.Status.FAILED,
            started_at=taken.snapshot_at,
            finished_at=max(timezone.now(), taken.snapshot_at),
            size_bytes=taken.size_bytes,
            sha256=taken.sha256,
            location=taken.location,
            encrypted=taken.encrypted,
            verified=taken.verified,
            manifest=taken.manifest,
            error=""
            if taken.verified
            else "The stored file's checksum differs from the one written.",
        )
        backup.refresh_from_db()
        audit.record(
            actor=actor,
            action="backup.taken",
            obj=backup,
            project_id=database.project_id,
            after={**audit.snapshot(backup, TAKEN_FIELDS), "tables": len(taken.manifest)},
            outcome="success" if taken.verified else "failure",
            message=backup.error,
        )
    backup_alerts(backup)
    return backup


def _finish_failed(backup: Backup, error: str, actor: Actor) -> Backup:
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).update(
            status=Backup.Status.FAILED, finished_at=timezone.now(), error=error
        )
        backup.refresh_from_db()
        audit.record(
            actor=actor,
            action="backup.taken",
            obj=backup,
            project_id=backup.database.project_id,
            after=audit.snapshot(backup, TAKEN_FIELDS),
            outcome="failure",
            message=error,
        )
    backup_alerts(backup)
    return backup


def backup_alerts(backup: Backup) -> None:
    """Alerts after a backup finished (taken here or reported): failed or not, and whether its size is alarming."""
    database = backup.database
    failed = backup.status == Backup.Status.FAILED
    alerts.judge(
        database,
        Alert.Condition.BACKUP_FAILED,
        active=failed,
        message=f"Backup #{backup.pk} of {database} failed: {backup.error}"
        if failed
        else f"Backup #{backup.pk} of {database} succeeded.",
        data={"backup": backup.pk},
    )
    if not failed:
        problems = size_problems(backup)
        alerts.judge(
            database,
            Alert.Condition.BACKUP_SIZE,
            active=bool(problems),
            message="; ".join(problems) or f"Backup #{backup.pk} has an expected size.",
            data={"backup": backup.pk, "size_bytes": backup.size_bytes},
        )


def size_problems(backup: Backup) -> list[str]:
    """The size alarm: far smaller than the previous backup from the same source (a dump of an
    emptied table, a job that backed up the wrong thing), or over the database's limit."""
    database, size = backup.database, backup.size_bytes
    if size is None:
        return []
    problems = []
    previous = (
        Backup.objects.filter(
            database=database,
            source=backup.source,
            status=Backup.Status.SUCCEEDED,
            size_bytes__isnull=False,
            started_at__lt=backup.started_at,
        )
        .exclude(pk=backup.pk)
        .order_by("-started_at")
        .first()
    )
    ratio = float(database.shrink_alarm_ratio)
    if previous is not None and previous.size_bytes and size < ratio * previous.size_bytes:
        problems.append(
            f"Backup #{backup.pk} of {database} is {size:,} bytes, "
            f"{size / previous.size_bytes:.0%} of the previous one ({previous.size_bytes:,} bytes); "
            f"the alarm is set below {ratio:.0%}"
        )
    if database.size_limit_bytes is not None and size > database.size_limit_bytes:
        problems.append(
            f"Backup #{backup.pk} of {database} is {size:,} bytes, over the limit of "
            f"{database.size_limit_bytes:,} bytes"
        )
    return problems
