"""Restore drills on demand over the API: POST databases/{database}/drills/, GET drills/{id}/."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from backups.models import Backup, Database, RestoreDrill

from .conftest import bearer, user_token

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/shop/databases/pos/drills/"


@pytest.fixture
def database(project):
    return Database.objects.create(project=project, name="pos", dsn_env="POS_DATABASE_URL")


def test_an_approver_starts_a_drill_and_follows_it(
    approver, database, django_capture_on_commit_callbacks
):
    client = bearer(user_token(approver))
    with django_capture_on_commit_callbacks() as callbacks:
        answer = client.post(URL, {}, format="json", HTTP_IDEMPOTENCY_KEY="drill-1")
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "queued"
    assert body["database"] == "pos"
    assert body["backup"] is None
    drill = RestoreDrill.objects.get()
    assert drill.requested_by == approver
    assert AuditEvent.objects.filter(action="drill.requested", outcome="success").count() == 1
    assert callbacks, "the drill task is sent after commit"

    again = client.post(URL, {}, format="json", HTTP_IDEMPOTENCY_KEY="drill-1")
    assert (again.status_code, again.json()) == (202, body)
    assert RestoreDrill.objects.count() == 1

    read = client.get(f"/api/v1/drills/{drill.pk}/")
    assert read.status_code == 200
    assert read.json()["id"] == drill.pk


def test_while_a_drill_is_queued_the_same_drill_answers(approver, database):
    client = bearer(user_token(approver))
    first = client.post(URL, {}, format="json").json()
    second = client.post(URL, {}, format="json").json()
    assert first["id"] == second["id"]


def test_a_backup_of_another_database_is_404_naming_the_field(approver, project, database):
    other = Database.objects.create(project=project, name="other", dsn_env="OTHER_URL")
    foreign = Backup.objects.create(database=other, started_at="2026-01-01T00:00:00Z")
    answer = bearer(user_token(approver)).post(URL, {"backup": foreign.pk}, format="json")
    assert answer.status_code == 404
    assert "backup" in answer.json()["fields"]
    assert not RestoreDrill.objects.exists()


def test_an_unknown_database_is_404(approver, database):
    answer = bearer(user_token(approver)).post(
        "/api/v1/projects/shop/databases/nope/drills/", {}, format="json"
    )
    assert answer.status_code == 404


def test_a_database_without_a_connection_string_is_400(approver, project):
    Database.objects.create(project=project, name="pos")
    answer = bearer(user_token(approver)).post(URL, {}, format="json")
    assert answer.status_code == 400
    assert "database" in answer.json()["fields"]


def test_a_bad_backup_id_is_400(approver, database):
    answer = bearer(user_token(approver)).post(URL, {"backup": "latest"}, format="json")
    assert answer.status_code == 400
    assert "backup" in answer.json()["fields"]


def test_an_unknown_drill_is_404(approver, database):
    assert bearer(user_token(approver)).get("/api/v1/drills/999999/").status_code == 404
