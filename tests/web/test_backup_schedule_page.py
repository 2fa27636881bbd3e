from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from backups.models import Database

pytestmark = pytest.mark.django_db

PAGE = "/projects/shop/backups/"
SCHEDULE = "/projects/shop/backups/main/schedule"
VALID = {
    "backup_schedule": "30 1 * * *",
    "drill_schedule": "0 4 * * *",
    "wal_schedule": "every 60 seconds",
}


@pytest.fixture
def database(project) -> Database:  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env="SHOP_DATABASE_URL")


def test_an_admin_sees_the_current_schedules_in_the_form(client_of, admin, database):  # type: ignore[no-untyped-def]
    response = client_of(admin).get(SCHEDULE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="backup_schedule" value="0 2 * * *"' in html
    assert 'name="drill_schedule" value="0 4 * * *"' in html
    assert 'name="wal_schedule" value="every 60 seconds"' in html


def test_an_admin_changes_the_backup_time(client_of, admin, database):  # type: ignore[no-untyped-def]
    response = client_of(admin).post(SCHEDULE, VALID)

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#database-main"
    database.refresh_from_db()
    assert database.backup_schedule == "30 1 * * *"
    event = AuditEvent.objects.get(action="database.schedule_changed")
    assert event.actor_user_id == admin.pk
    assert event.before == {"backup_schedule": "0 2 * * *"}
    assert event.after == {"backup_schedule": "30 1 * * *"}
    page = client_of(admin).get(PAGE).content.decode()
    assert "backups cron 30 1 * * *" in page


def test_a_wrong_schedule_is_shown_next_to_its_field(client_of, admin, database):  # type: ignore[no-untyped-def]
    response = client_of(admin).post(SCHEDULE, VALID | {"wal_schedule": "every 2 seconds"})

    assert response.status_code == 422
    assert "Run at most every 5 seconds." in response.content.decode()
    database.refresh_from_db()
    assert database.backup_schedule == "0 2 * * *"  # nothing is saved while one is wrong


@pytest.mark.parametrize("persona", ["viewer", "deployer", "approver"])
def test_only_admins_may_open_or_post_the_schedule_form(client_of, request, persona, database):  # type: ignore[no-untyped-def]
    client = client_of(request.getfixturevalue(persona))

    assert client.get(SCHEDULE).status_code == 403
    assert client.post(SCHEDULE, VALID).status_code == 403

    database.refresh_from_db()
    assert database.backup_schedule == "0 2 * * *"
    assert "Edit schedules" not in client.get(PAGE).content.decode()


def test_an_outsider_gets_404(client_of, outsider, database):  # type: ignore[no-untyped-def]
    assert client_of(outsider).get(SCHEDULE).status_code == 404
    assert client_of(outsider).post(SCHEDULE, VALID).status_code == 404


def test_the_backups_page_shows_the_schedules_and_links_admins_to_the_form(
    client_of, admin, database
):  # type: ignore[no-untyped-def]
    html = client_of(admin).get(PAGE).content.decode()
    assert "backups cron 0 2 * * * · drills cron 0 4 * * * · WAL samples every 60 seconds" in html
    assert f'href="{SCHEDULE}">Edit schedules' in html


def test_the_form_takes_a_fixed_number_of_queries(client_of, admin, database):  # type: ignore[no-untyped-def]
    client = client_of(admin)
    client.get(SCHEDULE)
    with CaptureQueriesContext(connection) as get:
        client.get(SCHEDULE)
    # session, user, project, role, database, and the navigation's projects
    assert len(get) == 6
