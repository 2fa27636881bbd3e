"""The backups page's panels are loaded for all databases at once: each panel must still hold its
own database's history, cut to its own limits, and be judged by the watch's rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backups.models import Alert, Backup, Database, RestoreDrill, WalSample
from backups.panels import (
    RECENT_BACKUPS,
    RECENT_DRILLS,
    RECENT_WAL_SAMPLES,
    database_panel,
    database_panels,
)
from backups.services.watch import freshness
from releases.models import Project

pytestmark = pytest.mark.django_db


def backup(database: Database, hours_ago: float, **fields) -> Backup:  # type: ignore[no-untyped-def]
    started = timezone.now() - timedelta(hours=hours_ago)
    values = {"verified": True, "finished_at": started + timedelta(minutes=5)}
    return Backup.objects.create(database=database, started_at=started, **{**values, **fields})


def drill(database: Database, hours_ago: float, status: str = "passed") -> RestoreDrill:
    at = timezone.now() - timedelta(hours=hours_ago)
    return RestoreDrill.objects.create(
        database=database,
        status=status,
        created_at=at,
        started_at=at,
        finished_at=at + timedelta(minutes=2),
        restore_seconds=120.0,
    )


def history(database: Database, n: int, *, hours_ago: float = 0) -> None:
    """``n`` backups, drills and WAL samples, one every hour from ``hours_ago`` back."""
    for i in range(n):
        backup(database, hours_ago + i, location=f"file:///{database.name}/{i}.dump")
        drill(database, hours_ago + i)
        WalSample.objects.create(
            database=database,
            taken_at=timezone.now() - timedelta(hours=hours_ago + i),
            state="healthy",
            message=database.name,
        )


@pytest.fixture
def databases(project: Project) -> list[Database]:
    return [Database.objects.create(project=project, name=name) for name in ("billing", "main")]


def panels(databases: list[Database], now: datetime | None = None):  # type: ignore[no-untyped-def]
    return database_panels(databases, now=now or timezone.now())


def test_each_panel_holds_its_own_databases_history_cut_to_its_own_limits(databases):  # type: ignore[no-untyped-def]
    busy, quiet = databases
    history(busy, 40)  # every row newer than any of the quiet database's
    history(quiet, 3, hours_ago=100)
    Alert.objects.create(database=busy, condition="wal_failing", active=True, message="busy")
    Alert.objects.create(database=quiet, condition="backup_stale", active=True, message="quiet")
    Alert.objects.create(database=quiet, condition="drill_failed", active=False, message="over")

    busy_panel, quiet_panel = panels(databases)

    assert busy_panel.database == busy
    assert quiet_panel.database == quiet
    assert (len(busy_panel.backups), len(busy_panel.drills), len(busy_panel.wal)) == (
        RECENT_BACKUPS,
        RECENT_DRILLS,
        RECENT_WAL_SAMPLES,
    )
    assert (len(quiet_panel.backups), len(quiet_panel.drills), len(quiet_panel.wal)) == (3, 3, 3)
    for panel in (busy_panel, quiet_panel):
        database = panel.database
        assert panel.backups == list(Backup.objects.filter(database=database)[:RECENT_BACKUPS])
        assert panel.drills == list(RestoreDrill.objects.filter(database=database)[:RECENT_DRILLS])
        assert panel.wal == list(
            WalSample.objects.filter(database=database).order_by("-taken_at", "-id")[
                :RECENT_WAL_SAMPLES
            ]
        )
        assert {w.message for w in panel.wal} == {database.name}
        assert panel.last_verified is not None
        assert panel.last_verified.database == database
    assert [a.message for a in busy_panel.alerts] == ["busy"]
    assert [a.message for a in quiet_panel.alerts] == ["quiet"]
    assert quiet_panel.backup_problem.startswith(
        "The last verified backup of shop/main is 4\xa0days"
    )


def test_the_last_verified_backup_is_the_newest_taken_kept_verified_one_of_its_own_database(
    databases,
):  # type: ignore[no-untyped-def]
    billing, main = databases
    # A backup without a finish time is as old as its start: it must not outrank newer ones,
    # as a NULL sorted first on PostgreSQL would.
    backup(main, 72, finished_at=None)
    newest = backup(main, 10)
    backup(main, 12)
    backup(main, 1, verified=False)
    backup(main, 2, deleted_at=timezone.now())
    backup(main, 3, status="failed")
    backup(billing, 0.5)

    main_panel = panels(databases)[1]

    assert main_panel.last_verified == newest == main.last_verified_backup()
    assert main_panel.backup_problem == ""
    assert main_panel.last_backup is not None
    assert main_panel.last_backup.verified is False
    assert len(main_panel.backups) == 5  # all but the deleted one


def test_a_backup_without_a_finish_time_is_the_last_verified_when_it_started_last(databases):  # type: ignore[no-untyped-def]
    main = databases[1]
    backup(main, 20)
    started_last = backup(main, 2, finished_at=None)

    assert panels(databases)[1].last_verified == started_last == main.last_verified_backup()


def test_the_last_passed_drill_is_its_own_databases(databases):  # type: ignore[no-untyped-def]
    billing, main = databases
    drill(billing, 1)
    drill(main, 24 * 40)
    drill(main, 1, status="failed")

    billing_panel, main_panel = panels(databases)

    assert billing_panel.drill_problem == ""
    assert main_panel.drill_problem.startswith(
        "The last passed restore drill of shop/main is 1\xa0month"
    )


def test_the_panels_judge_freshness_as_the_watch_does(databases):  # type: ignore[no-untyped-def]
    billing, main = databases
    backup(billing, 30)
    drill(billing, 2)
    backup(main, 1, finished_at=None)
    drill(main, 24 * 40)
    now = timezone.now()

    for panel in panels(databases, now):
        assert (panel.backup_problem, panel.drill_problem) == freshness(panel.database, now)


def test_a_database_without_history_gets_an_empty_panel(databases):  # type: ignore[no-untyped-def]
    history(databases[0], 2)

    panel = panels(databases)[1]

    assert (panel.backups, panel.drills, panel.wal, panel.alerts) == ([], [], [], [])
    assert panel.last_backup is None
    assert panel.last_verified is None
    assert panel.backup_problem == "No verified backup of shop/main is recorded."
    assert panel.drill_problem == "No restore drill of shop/main has passed."


def test_the_panels_cost_as_many_queries_for_4_databases_as_for_1(project):  # type: ignore[no-untyped-def]
    databases = [Database.objects.create(project=project, name=f"db{n}") for n in range(4)]
    for database in databases:
        history(database, 3)
        Alert.objects.create(database=database, condition="wal_failing", active=True)
    with CaptureQueriesContext(connection) as one:
        panels(databases[:1])
    with CaptureQueriesContext(connection) as four:
        panels(databases)
    assert len(four) == len(one)
    assert database_panels([], now=timezone.now()) == []


def test_one_panel_is_the_same_as_in_the_page(databases):  # type: ignore[no-untyped-def]
    history(databases[1], 2)
    now = timezone.now()
    assert database_panel(databases[1], now=now) == panels(databases, now)[1]
