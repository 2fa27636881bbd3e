from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from backups.models import Alert, Backup, Database, RestoreDrill
from backups.services.watch import watch
from releases.models import WebhookDelivery

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
