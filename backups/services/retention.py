"""Retention: backup files Preflight took are deleted when their time is up — ``keep_until``
when a backup has one, else the database's ``retention_days`` (30 when not set) after it was
taken — and the rows stay, marked ``deleted_at``, so the history (sizes, drills) outlives the
files.

Three rules keep retention from doing harm: the newest verified backup of a database is never
deleted, however old (an expired backup beats none); a backup a queued or running restore drill
is restoring waits for the drill to end; and reported backups are left alone — their files
belong to the job that reported them, which keeps its own retention."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor

from .. import storage
from ..models import Backup, Database, RestoreDrill, WalSample

log = logging.getLogger(__name__)

RETENTION = Actor.of_system("backup-retention")


def expired(database: Database, now: datetime) -> list[Backup]:
    cutoff = now - timedelta(days=database.kept_days)
    keep = database.last_verified_backup(taken_only=True)
    candidates = (
        Backup.objects.filter(
            database=database, source=Backup.Source.TAKEN, deleted_at__isnull=True
        )
        .exclude(status=Backup.Status.RUNNING)
        .exclude(drills__status__in=[RestoreDrill.Status.QUEUED, RestoreDrill.Status.RUNNING])
        .filter(
            Q(keep_until__isnull=False, keep_until__lte=now)
            | Q(keep_until__isnull=True, started_at__lt=cutoff)
        )
        .order_by("started_at")
    )
    return [b for b in candidates if keep is None or b.pk != keep.pk]


def retention_enforce(*, now: datetime | None = None) -> list[Backup]:
    """Delete every expired backup's file and mark it deleted. Returns what was deleted; a
    file that cannot be deleted now is tried again on the next run."""
    now = now or timezone.now()
    deleted = []
    for database in Database.objects.select_related("project"):
        for backup in expired(database, now):
            if backup.location:
                try:
                    storage.delete(backup.location)
                except storage.StorageError as exc:
                    log.warning("retention: backup %s: %s", backup.pk, exc)
                    continue
            with transaction.atomic():
                marked = Backup.objects.filter(pk=backup.pk, deleted_at__isnull=True).update(
                    deleted_at=now
                )
                if not marked:
                    continue
                backup.deleted_at = now
                audit.record(
                    actor=RETENTION,
                    action="backup.deleted",
                    obj=backup,
                    project_id=database.project_id,
                    after={
                        "location": backup.location,
                        "reason": "keep_until passed"
                        if backup.keep_until
                        else f"older than {database.kept_days} days",
                    },
                )
            deleted.append(backup)
    WalSample.objects.filter(
        taken_at__lt=now - timedelta(days=settings.PREFLIGHT_WAL_HISTORY_DAYS)
    ).delete()
    return deleted
