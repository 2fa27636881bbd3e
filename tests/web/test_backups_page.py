from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from backups.models import Alert, Backup, Database, RestoreDrill, WalSample

pytestmark = pytest.mark.django_db

URL = "/projects/shop/backups/"
DRILL = "/projects/shop/backups/main/drills"


@pytest.fixture
def database(project) -> Database:  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env="SHOP_DATABASE_URL")


def _history(database: Database, n: int) -> None:
    now = datetime.now(UTC)
    for i in range(n):
        at = now - timedelta(hours=6 * (n - i))
        Backup.objects.create(
            database=database,
            started_at=at,
            finished_at=at + timedelta(minutes=3),
            size_bytes=10_000_000 + i * 1000,
            verified=True,
            location=f"file:///backups/{i}.dump",
        )
        RestoreDrill.objects.create(
            database=database,
            status="passed",
            created_at=at,
            started_at=at,
            finished_at=at + timedelta(minutes=2),
            restore_seconds=40.0 + i,
            validations=[{"name": "rows match", "passed": True, "detail": "ok"}],
        )
        WalSample.objects.create(database=database, taken_at=at, state="healthy", message="fine")


def test_the_backups_page_needs_login(client, project):  # type: ignore[no-untyped-def]
    assert client.get(URL).status_code == 302


def test_an_outsider_gets_404(client_of, outsider, database):  # type: ignore[no-untyped-def]
    client = client_of(outsider)
    assert client.get(URL).status_code == 404
    assert client.post(DRILL).status_code == 404


def test_a_project_without_databases_shows_the_empty_state(client_of, viewer, project):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL).content.decode()
    assert "No databases are watched yet" in html


def test_a_database_without_history_says_so(client_of, viewer, database):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL).content.decode()
    assert "No backups, drills or WAL samples of main are recorded yet." in html
    assert "No verified backup of shop/main is recorded." in html


def test_the_panels_show_freshness_drills_and_wal(client_of, viewer, database):  # type: ignore[no-untyped-def]
    _history(database, 3)
    html = client_of(viewer).get(URL).content.decode()
    assert 'badge pass">verified' in html
    assert "RTO 42 s" in html
    assert "healthy" in html
    assert html.count("<svg") == 2  # size trend and recovery times
    assert "The last 3 samples were all healthy." in html
    assert "Run drill now" not in html  # viewers may not drill


def test_a_viewer_may_not_run_a_drill(client_of, viewer, database):  # type: ignore[no-untyped-def]
    assert client_of(viewer).post(DRILL).status_code == 403
    assert not RestoreDrill.objects.exists()


def test_the_drill_button_needs_post(client_of, approver, database):  # type: ignore[no-untyped-def]
    assert client_of(approver).get(DRILL).status_code == 405


@pytest.fixture
def postgres(monkeypatch):  # type: ignore[no-untyped-def]
    """The database's connection string is set: drills can run (no worker takes them here)."""
    monkeypatch.setenv("SHOP_DATABASE_URL", "postgres://shop@127.0.0.1:1/shop")


def test_an_approver_queues_a_drill_and_the_panel_polls_until_it_ends(
    client_of, approver, database, htmx_headers, postgres
):  # type: ignore[no-untyped-def]
    client = client_of(approver)
    assert "Run drill now" in client.get(URL).content.decode()
    response = client.post(DRILL, headers=htmx_headers)
    assert response.status_code == 200
    drill = RestoreDrill.objects.get()
    assert drill.status == "queued"
    assert drill.requested_by == approver
    assert AuditEvent.objects.filter(action="drill.requested", actor="ana").exists()
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card database-panel" id="database-main"')
    assert 'hx-trigger="every 2s"' in html
    assert f"Drill #{drill.pk} queued" in html
    # Finished: the panel no longer polls.
    RestoreDrill.objects.filter(pk=drill.pk).update(
        status="passed", finished_at=datetime.now(UTC), restore_seconds=3.0
    )
    polled = client.get("/projects/shop/backups/main/", headers=htmx_headers).content.decode()
    assert 'hx-trigger="every 2s"' not in polled


def test_a_drill_without_a_connection_string_is_refused_in_words(
    client_of, approver, project, htmx_headers
):  # type: ignore[no-untyped-def]
    Database.objects.create(project=project, name="main", dsn_env="")
    response = client_of(approver).post(DRILL, headers=htmx_headers)
    assert response.status_code == 422
    assert "names no environment variable" in response.content.decode()
    assert not RestoreDrill.objects.exists()


def test_without_htmx_the_drill_button_redirects_back(client_of, approver, database, postgres):  # type: ignore[no-untyped-def]
    response = client_of(approver).post(DRILL)
    assert response.status_code == 302
    assert response["Location"] == "/projects/shop/backups/#database-main"


def test_the_page_takes_as_many_queries_with_500_backups_as_with_1(client_of, viewer, database):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    _history(database, 1)
    client.get(URL)
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    _history(database, 500)
    with CaptureQueriesContext(connection) as many:
        assert client.get(URL).status_code == 200
    assert len(many) == len(one)


def test_the_page_takes_as_many_queries_with_4_databases_as_with_1(client_of, viewer, project):  # type: ignore[no-untyped-def]
    def add_database(name: str) -> None:
        database = Database.objects.create(project=project, name=name)
        _history(database, 3)
        Alert.objects.create(
            database=database, condition="wal_failing", active=True, message=f"{name} is failing"
        )

    client = client_of(viewer)
    add_database("main")
    client.get(URL)
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for name in ("billing", "events", "search"):
        add_database(name)
    with CaptureQueriesContext(connection) as four:
        html = client.get(URL).content.decode()
    assert len(four) == len(one)
    assert html.count('class="card database-panel"') == 4
    assert all(f"{name} is failing" in html for name in ("main", "billing", "events", "search"))


def test_unhealthy_wal_samples_are_counted_and_a_failing_one_opens_the_history(
    client_of, viewer, database
):  # type: ignore[no-untyped-def]
    _history(database, 2)
    WalSample.objects.create(database=database, state="failing", message="archive_command failed")
    html = client_of(viewer).get(URL).content.decode()
    assert "1 of the last 3 samples was not healthy." in html
    assert '<details class="history" open>' in html
    assert "archive_command failed" in html


def test_without_postgresql_the_page_explains_instead_of_offering_the_button(
    client_of, approver, database, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SHOP_DATABASE_URL", raising=False)
    _history(database, 2)  # its past drills passed
    html = client_of(approver).get(URL).content.decode()
    assert "Run drill now" not in html
    assert "Restore drills need PostgreSQL." in html
    assert "Set <code>SHOP_DATABASE_URL</code> to a <code>postgres://…</code>" in html
    assert '<a href="/docs/backups.md">docs/backups.md</a>' in html
    assert 'data-state="unavailable"' in html  # not the green of the passed drills


def test_a_variable_that_is_no_postgresql_url_is_explained_too(
    client_of, approver, database, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHOP_DATABASE_URL", "sqlite:///db.sqlite3")
    html = client_of(approver).get(URL).content.decode()
    assert "SHOP_DATABASE_URL does not hold a PostgreSQL connection string." in html
    assert "Run drill now" not in html


def test_a_refused_drill_start_leaves_no_green_card(
    client_of, approver, database, htmx_headers, monkeypatch
):  # type: ignore[no-untyped-def]
    # A page loaded while the variable was set still shows the button; the start is refused.
    _history(database, 2)
    monkeypatch.delenv("SHOP_DATABASE_URL", raising=False)
    response = client_of(approver).post(DRILL, headers=htmx_headers)
    assert response.status_code == 422
    html = response.content.decode()
    assert "The drill did not start: The environment variable SHOP_DATABASE_URL" in html
    assert 'data-state="bad"' in html
    assert 'class="status-tile good" data-state' not in html
    assert not RestoreDrill.objects.filter(status="queued").exists()


def test_the_drill_card_follows_the_last_drill_even_when_drills_are_fresh(
    client_of, viewer, database, postgres
):  # type: ignore[no-untyped-def]
    _history(database, 2)
    client = client_of(viewer)
    assert 'data-state="good"' in client.get(URL).content.decode()
    now = datetime.now(UTC)
    RestoreDrill.objects.create(
        database=database, status="failed", created_at=now, started_at=now, finished_at=now,
        error="pg_restore: could not connect",
    )  # fmt: skip
    html = client.get(URL).content.decode()
    assert 'data-state="bad"' in html
    assert "The last drill failed: pg_restore: could not connect" in html


def test_the_docs_the_page_links_to_are_served(client_of, viewer, project):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    response = client.get("/docs/backups.md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().startswith("# Backups, restore drills and WAL archiving")
    assert client.get("/docs/..%2Fmanage.py").status_code == 404
    assert client.get("/docs/nope.md").status_code == 404
