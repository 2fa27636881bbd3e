from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from audit.models import AuditEvent
from backups import pg
from backups.models import Alert, Backup, Database, RestoreDrill
from backups.services.taking import backups_reap
from backups.services.watch import watch
from releases.models import WebhookDelivery

from .conftest import server_dsn

pytestmark = pytest.mark.django_db


def test_stale_backups_and_overdue_drills_alert_once_per_change(project, webhook):
    database = Database.objects.create(project=project, name="main")

    watch()
    watch()

    events = sorted(WebhookDelivery.objects.values_list("event", flat=True))
    assert events == ["backup.stale", "drill.failed"]
    assert AuditEvent.objects.filter(action="alert.raised").count() == 2
    conditions = {a.condition: a.message for a in Alert.objects.filter(active=True)}
    assert conditions == {
        "backup_stale": "No verified backup of shop/main is recorded.",
        "drill_overdue": "No restore drill of shop/main has passed.",
    }

    now = timezone.now()
    backup = Backup.objects.create(
        database=database, started_at=now, finished_at=now, verified=True
    )
    RestoreDrill.objects.create(
        database=database, backup=backup, status="passed", started_at=now, finished_at=now
    )
    watch()
    watch()

    assert not Alert.objects.filter(active=True).exists()
    assert AuditEvent.objects.filter(action="alert.cleared").count() == 2
    assert WebhookDelivery.objects.count() == 2

    later = now + database.max_backup_age + timedelta(minutes=1)
    watch(now=later)
    assert list(Alert.objects.filter(active=True).values_list("condition", flat=True)) == [
        "backup_stale"
    ]
    assert WebhookDelivery.objects.filter(event="backup.stale").count() == 2


def test_drills_the_broker_lost_or_whose_worker_died_are_sent_again(project):
    from backups.services.watch import reap_drills

    database = Database.objects.create(project=project, name="main", dsn_env="X")
    now = timezone.now()
    lost = RestoreDrill.objects.create(database=database, created_at=now - timedelta(hours=1))
    RestoreDrill.objects.create(database=database, created_at=now)  # just queued
    dead = RestoreDrill.objects.create(
        database=database, status="running", started_at=now - timedelta(hours=2), attempts=1
    )
    RestoreDrill.objects.create(database=database, status="running", started_at=now)

    assert sorted(reap_drills(now)) == sorted([lost.pk, dead.pk])


def test_a_backup_no_worker_took_is_failed_but_one_being_taken_is_left_alone(project, settings):
    database = Database.objects.create(project=project, name="main", dsn_env="X")
    long_ago = timezone.now() - timedelta(hours=1)
    lost = Backup.objects.create(
        database=database, source="taken", status="running", started_at=long_ago
    )
    busy = Backup.objects.create(
        database=database, source="taken", status="running", started_at=long_ago
    )
    recent = Backup.objects.create(
        database=database, source="taken", status="running", started_at=timezone.now()
    )
    # Another session (a worker) holds the lock of the busy one.
    name = settings.DATABASES["default"]["NAME"]
    with psycopg.connect(pg.dsn_for(server_dsn(), name), autocommit=True) as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", [0x4241, busy.pk])
        reaped = backups_reap(older_than=timezone.now() - timedelta(minutes=20))

    assert [b.pk for b in reaped] == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == "failed"
    assert "the task was lost or its worker stopped" in lost.error
    for backup in (busy, recent):
        backup.refresh_from_db()
        assert backup.status == "running"
    assert AuditEvent.objects.filter(action="backup.taken", outcome="failure").count() == 1


def test_the_watch_drops_scratch_databases_no_running_drill_owns(database):
    from .conftest import scratch_databases

    now = timezone.now()
    finished = RestoreDrill.objects.create(
        database=database, status="failed", started_at=now, finished_at=now
    )
    running = RestoreDrill.objects.create(database=database, status="running", started_at=now)
    pg.create_database(server_dsn(), f"preflight_drill_{finished.pk}_0badf00d")
    pg.create_database(server_dsn(), f"preflight_drill_{running.pk}_0badf00d")
    pg.create_database(server_dsn(), "preflight_drill_999999_0badf00d")  # not a drill of ours
    try:
        watch()

        assert sorted(scratch_databases()) == sorted(
            ["preflight_drill_999999_0badf00d", f"preflight_drill_{running.pk}_0badf00d"]
        )
    finally:
        pg.drop_database(server_dsn(), f"preflight_drill_{running.pk}_0badf00d")
        pg.drop_database(server_dsn(), "preflight_drill_999999_0badf00d")
