"""The watch over every database: no recent verified backup (``backup_stale``), no recent
passed drill (``drill_overdue``), and drills and backups whose worker went away. Run by beat."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.timesince import timesince

from .. import alerts
from ..models import Alert, Backup, Database, RestoreDrill
from ..wal import DsnError, dsn_from_env, safe_error
from .drills import MAX_ATTEMPTS, enqueue, scratch_leftovers_drop, stale_after
from .taking import backups_reap

log = logging.getLogger(__name__)

QUEUED_TOO_LONG_SECONDS = 600


def freshness(database: Database, now: datetime) -> tuple[str, str]:
    """(backup problem, drill problem), each empty when all is well: the same rules as the
    ``backup`` readiness check."""
    last_drill = passed_drills().filter(database=database).aggregate(last=Max("finished_at"))
    return judge_freshness(database, database.last_verified_backup(), last_drill["last"], now)


def passed_drills() -> QuerySet[RestoreDrill]:
    """The drills whose finish time the drill rule judges: passed, and finished."""
    return RestoreDrill.objects.filter(status=RestoreDrill.Status.PASSED, finished_at__isnull=False)


def judge_freshness(
    database: Database,
    last_verified_backup: Backup | None,
    last_passed_drill_finished_at: datetime | None,
    now: datetime,
) -> tuple[str, str]:
    """``freshness`` of what is already loaded: ``database.last_verified_backup()`` and the
    latest finish of its ``passed_drills``."""
    backup_problem = ""
    if last_verified_backup is None:
        backup_problem = f"No verified backup of {database} is recorded."
    elif database.backup_is_stale(last_verified_backup, now):
        backup_problem = f"The last verified backup of {database} is {timesince(last_verified_backup.taken_at, now)} old."
    drill_problem = ""
    if last_passed_drill_finished_at is None:
        drill_problem = f"No restore drill of {database} has passed."
    elif database.drill_is_overdue(last_passed_drill_finished_at, now):
        drill_problem = f"The last passed restore drill of {database} is {timesince(last_passed_drill_finished_at, now)} old."
    return backup_problem, drill_problem


def watch(*, now: datetime | None = None) -> None:
    now = now or timezone.now()
    for database in Database.objects.select_related("project"):
        backup_problem, drill_problem = freshness(database, now)
        alerts.judge(
            database,
            Alert.Condition.BACKUP_STALE,
            active=bool(backup_problem),
            message=backup_problem or f"{database} has a recent verified backup.",
        )
        alerts.judge(
            database,
            Alert.Condition.DRILL_OVERDUE,
            active=bool(drill_problem),
            message=drill_problem or f"{database} has a recent passed restore drill.",
        )
    reap_drills(now)
    backups_reap(older_than=now - stale_after())
    drop_scratch_leftovers()


def drop_scratch_leftovers() -> list[str]:
    """Scratch databases left on every server a database's drills restore into."""
    dropped: list[str] = []
    servers = set()
    for dsn_env in Database.objects.exclude(dsn_env="").values_list("dsn_env", flat=True):
        try:
            dsn = dsn_from_env(dsn_env)
        except DsnError:
            continue  # not reachable from here: no drill of it runs here either
        if dsn in servers:
            continue
        servers.add(dsn)
        try:
            dropped += scratch_leftovers_drop(dsn)
        except psycopg.Error as exc:
            log.warning("cannot drop scratch databases via %s: %s", dsn_env, safe_error(exc, dsn))
    return dropped


def reap_drills(now: datetime) -> list[int]:
    """Send again drills the broker lost (queued for long) or whose worker died (running past
    any task's time limit); the claim in drill_execute decides who runs them."""
    silent = list(
        RestoreDrill.objects.filter(
            status=RestoreDrill.Status.QUEUED,
            created_at__lt=now - timedelta(seconds=QUEUED_TOO_LONG_SECONDS),
        ).values_list("pk", flat=True)
    ) + list(
        RestoreDrill.objects.filter(
            status=RestoreDrill.Status.RUNNING,
            started_at__lt=now - stale_after(),
            attempts__lte=MAX_ATTEMPTS,
        ).values_list("pk", flat=True)
    )
    for drill_id in silent:
        enqueue(drill_id)
    return silent
