from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from backups import storage
from backups.models import Backup, Database, RestoreDrill, WalSample
from backups.services.retention import retention_enforce

pytestmark = pytest.mark.django_db


def _backup(database: Database, days_old: float, settings, **fields) -> Backup:  # type: ignore[no-untyped-def]
    started = timezone.now() - timedelta(days=days_old)
    path = Path(settings.PREFLIGHT_BACKUP_DIR) / f"{days_old}-{len(fields)}.dump"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PGDMP")
    values = {
        "source": Backup.Source.TAKEN,
        "status": Backup.Status.SUCCEEDED,
        "verified": True,
        "started_at": started,
        "finished_at": started,
        "location": path.as_uri(),
        **fields,
    }
    return Backup.objects.create(database=database, **values)


def _exists(backup: Backup) -> bool:
    path = storage.local_path(backup.location)
    assert path is not None
    return path.exists()


def test_retention_deletes_only_what_has_expired(project, settings):
    database = Database.objects.create(project=project, name="main", retention_days=7)
    newest = _backup(database, 1, settings)
    expired = _backup(database, 10, settings)
    kept_longer = _backup(database, 10, settings, keep_until=timezone.now() + timedelta(days=5))
    kept_shorter = _backup(database, 2, settings, keep_until=timezone.now() - timedelta(hours=1))
    reported = _backup(database, 30, settings, source=Backup.Source.REPORTED)
    running = _backup(database, 30, settings, status=Backup.Status.RUNNING, finished_at=None)
    failed = _backup(database, 9, settings, status=Backup.Status.FAILED, verified=False)

    deleted = retention_enforce()

    assert sorted(b.pk for b in deleted) == sorted([expired.pk, kept_shorter.pk, failed.pk])
    for backup in (expired, kept_shorter, failed):
        backup.refresh_from_db()
        assert backup.deleted_at is not None
        assert not _exists(backup)
    for backup in (newest, kept_longer, reported, running):
        backup.refresh_from_db()
        assert backup.deleted_at is None
        assert _exists(backup)
    events = AuditEvent.objects.filter(action="backup.deleted")
    assert sorted(int(e.object_id) for e in events) == sorted(b.pk for b in deleted)
    assert events.get(object_id=str(expired.pk)).after["reason"] == "older than 7 days"
    assert events.get(object_id=str(kept_shorter.pk)).after["reason"] == "keep_until passed"

    assert retention_enforce() == []  # a second run finds nothing more
    assert events.count() == 3


def test_the_newest_verified_backup_survives_retention_however_old(project, settings):
    database = Database.objects.create(project=project, name="main", retention_days=7)
    older = _backup(database, 40, settings)
    newest = _backup(database, 20, settings)

    deleted = retention_enforce()

    assert [b.pk for b in deleted] == [older.pk]
    newest.refresh_from_db()
    assert newest.deleted_at is None
    assert _exists(newest)


def test_a_backup_being_restored_by_a_drill_waits_for_the_drill(project, settings):
    database = Database.objects.create(project=project, name="main", retention_days=7)
    _backup(database, 1, settings)
    restoring = _backup(database, 20, settings)
    drill = RestoreDrill.objects.create(
        database=database, backup=restoring, status=RestoreDrill.Status.RUNNING
    )

    assert retention_enforce() == []
    assert _exists(restoring)

    drill.status = RestoreDrill.Status.PASSED
    drill.save()
    assert [b.pk for b in retention_enforce()] == [restoring.pk]
    assert not _exists(restoring)


def test_retention_prunes_old_wal_samples(project, settings):
    settings.PREFLIGHT_WAL_HISTORY_DAYS = 30
    database = Database.objects.create(project=project, name="main")
    old = WalSample.objects.create(
        database=database, state="healthy", taken_at=timezone.now() - timedelta(days=31)
    )
    recent = WalSample.objects.create(database=database, state="healthy")

    retention_enforce()

    assert list(WalSample.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk


def test_a_database_without_its_own_retention_keeps_backups_the_default_30_days(project, settings):
    database = Database.objects.create(project=project, name="main")
    assert database.retention_days is None
    _backup(database, 0, settings)  # the newest verified backup is kept whatever its age
    young = _backup(database, 29, settings)
    old = _backup(database, 31, settings)

    assert [b.pk for b in retention_enforce()] == [old.pk]
    assert _exists(young)
    event = AuditEvent.objects.get(action="backup.deleted")
    assert event.after["reason"] == "older than 30 days"
