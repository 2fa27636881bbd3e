from __future__ import annotations

import pytest

from audit.models import AuditEvent
from backups.models import Database

pytestmark = pytest.mark.django_db


def test_a_database_configured_in_the_admin_is_audited(admin_client, project):
    response = admin_client.post(
        "/admin/backups/database/add/",
        {
            "project": project.pk,
            "name": "main",
            "dsn_env": "SHOP_DATABASE_URL",
            "retention_days": 14,
            "max_backup_age": "1 02:00:00",
            "max_drill_age": "30 00:00:00",
            "shrink_alarm_ratio": "0.50",
            "validation_sql": "[]",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    database = Database.objects.get()
    assert database.retention_days == 14
    event = AuditEvent.objects.get(action="admin.database.added")
    assert event.project_id == project.pk
    assert event.after["dsn_env"] == "SHOP_DATABASE_URL"


def test_backups_are_read_only_in_the_admin(admin_client):
    assert admin_client.get("/admin/backups/backup/add/").status_code == 403
