"""Backup tasks. Each takes ids, is safe to deliver twice, and records its progress in rows."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.actors import Actor
from core.config import secret_value

from .models import Database
from .services.archiving import wal_sample
from .services.drills import drill_execute, drill_request
from .services.retention import retention_enforce
from .services.taking import backup_request, backup_take
from .services.watch import watch as watch_all

log = logging.getLogger(__name__)


@shared_task(name="backups.tasks.take_backup")
def take_backup(backup_id: int) -> None:
    backup_take(backup_id)


@shared_task(name="backups.tasks.run_drill")
def run_drill(drill_id: int) -> None:
    drill_execute(drill_id)


def reachable_databases() -> list[Database]:
    """Databases this Preflight can reach: their connection string's variable is set here.
    The others are watched through what outside jobs report (and alert when that stops)."""
    return [
        db
        for db in Database.objects.select_related("project").exclude(dsn_env="")
        if secret_value(db.dsn_env)
    ]


def reachable_database(database_id: int) -> Database | None:
    """The database if it still exists and this worker can reach it. Beat names databases by
    id and may run where the connection strings are not; the worker that has them decides."""
    database = (
        Database.objects.select_related("project")
        .exclude(dsn_env="")
        .filter(pk=database_id)
        .first()
    )
    if database is None or not secret_value(database.dsn_env):
        log.info("database %s is gone or not reachable here: nothing scheduled runs", database_id)
        return None
    return database


BACKUP_SCHEDULE = Actor.of_system("backup-schedule")
DRILL_SCHEDULE = Actor.of_system("drill-schedule")


# One database each, by its own schedule (backups.schedules: what beat sends).


@shared_task(name="backups.tasks.take_scheduled_backup")
def take_scheduled_backup(database_id: int) -> bool:
    database = reachable_database(database_id)
    if database is None:
        return False
    backup_request(actor=BACKUP_SCHEDULE, database=database, unless_running=True)
    return True


@shared_task(name="backups.tasks.run_scheduled_drill")
def run_scheduled_drill(database_id: int) -> bool:
    database = reachable_database(database_id)
    if database is None:
        return False
    drill_request(actor=DRILL_SCHEDULE, database=database)
    return True


@shared_task(name="backups.tasks.sample_database_wal")
def sample_database_wal(database_id: int) -> bool:
    database = reachable_database(database_id)
    if database is None:
        return False
    wal_sample(database)
    return True


# Every reachable database at once: what beat sent before each database had its own schedule.
# Kept under their names so messages queued before an upgrade still run, and for operators
# (`celery -A preflight call backups.tasks.take_scheduled_backups`).


@shared_task(name="backups.tasks.take_scheduled_backups")
def take_scheduled_backups() -> int:
    databases = reachable_databases()
    for database in databases:
        backup_request(actor=BACKUP_SCHEDULE, database=database, unless_running=True)
    return len(databases)


@shared_task(name="backups.tasks.run_scheduled_drills")
def run_scheduled_drills() -> int:
    databases = reachable_databases()
    for database in databases:
        drill_request(actor=DRILL_SCHEDULE, database=database)
    return len(databases)


@shared_task(name="backups.tasks.sample_wal")
def sample_wal() -> int:
    databases = reachable_databases()
    for database in databases:
        wal_sample(database)
    return len(databases)


@shared_task(name="backups.tasks.enforce_retention")
def enforce_retention() -> int:
    return len(retention_enforce())


@shared_task(name="backups.tasks.watch")
def watch() -> None:
    watch_all()
