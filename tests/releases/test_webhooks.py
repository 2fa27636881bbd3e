from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from releases.models import Webhook, WebhookDelivery
from releases.tasks import purge_webhook_deliveries

pytestmark = pytest.mark.django_db


def _delivery(webhook: Webhook, age: timedelta, status: str = "delivered") -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        webhook=webhook,
        event="lock.changed",
        payload={},
        status=status,
        created_at=timezone.now() - age,
    )


@pytest.fixture
def webhook(project) -> Webhook:  # type: ignore[no-untyped-def]
    return Webhook.objects.create(project=project, name="ops", url="http://127.0.0.1:9/hook")


def test_deliveries_older_than_the_keeping_period_are_deleted_and_counted_in_the_audit_log(
    webhook, settings
):
    settings.PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS = 30
    old = [
        _delivery(webhook, timedelta(days=31)),
        _delivery(webhook, timedelta(days=90), status="failed"),
    ]
    kept = [_delivery(webhook, timedelta(days=29)), _delivery(webhook, timedelta(minutes=1))]
    assert purge_webhook_deliveries() == 2
    assert set(WebhookDelivery.objects.all()) == set(kept)
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in old]).exists()
    event = AuditEvent.objects.get(action="webhook.deliveries_purged")
    assert event.actor == "system:retention"
    assert event.after["deleted"] == 2


def test_a_purge_with_nothing_to_delete_records_nothing(webhook, settings):
    settings.PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS = 30
    _delivery(webhook, timedelta(days=1))
    assert purge_webhook_deliveries() == 0
    assert not AuditEvent.objects.filter(action="webhook.deliveries_purged").exists()


def test_the_keeping_period_comes_from_the_settings(webhook, settings):
    settings.PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS = 7
    _delivery(webhook, timedelta(days=8))
    _delivery(webhook, timedelta(days=6))
    assert purge_webhook_deliveries() == 1


def test_retention_runs_hourly_in_beat(settings):
    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == purge_webhook_deliveries.name
    ]
    assert [e["schedule"] for e in entries] == [timedelta(hours=1)]


def test_a_backoff_reaching_the_visibility_timeout_stops_start_up(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PREFLIGHT_VAR_DIR": str(tmp_path)}
    env["PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS"] = "900"  # visibility 30 min − task limit 15 min
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS=900 is malformed" in result.stderr
