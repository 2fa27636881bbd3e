"""Backup tasks. Each takes ids, is safe to deliver twice, and records its progress in rows."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.actors import Actor
from preflight.config import secret_value

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


@shared_task(name="backups.tasks.take_scheduled_backups")
def take_scheduled_backups() -> int:
    actor = Actor.of_system("backup-schedule")
    databases = reachable_databases()
    for database in databases:
        backup_request(actor=actor, database=database, unless_running=True)
    return len(databases)


@shared_task(name="backups.tasks.run_scheduled_drills")
def run_scheduled_drills() -> int:
    actor = Actor.of_system("drill-schedule")
    databases = reachable_databases()
    for database in databases:
        drill_request(actor=actor, database=database)
    return len(databases)


@shared_task(name="backups.tasks.enforce_retention")
def enforce_retention() -> int:
    return len(retention_enforce())


@shared_task(name="backups.tasks.sample_wal")
def sample_wal() -> int:
    databases = reachable_databases()
    for database in databases:
        wal_sample(database)
    return len(databases)


@shared_task(name="backups.tasks.watch")
def watch() -> None:
    watch_all()
