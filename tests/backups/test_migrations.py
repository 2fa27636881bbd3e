"""Upgrading keeps every database on the schedule it had: the one crontab that served them all."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backups import schedules
from backups.models import Database

BACKUPS_BEFORE = ("backups", "0006_database_retention_default")


@pytest.fixture
def before():  # type: ignore[no-untyped-def]
    """The database as it was before schedules per database; the latest schema again after."""
    executor = MigrationExecutor(connection)
    # Every other app as it is now, so their models are the ones the tables have.
    before = [n for n in executor.loader.graph.leaf_nodes() if n[0] != "backups"]
    before.append(BACKUPS_BEFORE)
    executor.migrate(before)
    yield executor.loader.project_state(before).apps
    latest = MigrationExecutor(connection)
    latest.migrate(latest.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_databases_configured_before_keep_the_schedule_they_had(before):
    Project = before.get_model("releases", "Project")
    OldDatabase = before.get_model("backups", "Database")
    project = Project.objects.create(slug="shop", name="Shop")
    old = OldDatabase.objects.create(project=project, name="main", dsn_env="MAIN_URL")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    database = Database.objects.get(pk=old.pk)
    assert (database.backup_schedule, database.drill_schedule, database.wal_schedule) == (
        "0 2 * * *",
        "0 4 * * *",
        "every 60 seconds",
    )
    assert set(schedules.beat_entries()) == {
        f"database-{old.pk}-backup",
        f"database-{old.pk}-drill",
        f"database-{old.pk}-wal",
    }
