"""The release page shows the run's migration rehearsals as the backups page shows drills: per
migration its time, rows, blocking locks and outcome, and its rollback; in the same number of
queries whatever their number."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backups.models import Backup, Database
from checks.models import MigrationRehearsal
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db

PATH = "/projects/shop/releases/1.0.0/production/"


def migration(n: int, status: str = "applied", **extra: object) -> dict[str, object]:
    return {
        "key": f"2025060{n}_step",
        "name": f"2025060{n}_step",
        "file": f"prisma/migrations/2025060{n}_step/migration.sql",
        "rollback_file": f"prisma/migrations/2025060{n}_step/rollback.sql",
        "status": status,
        "seconds": 1.25 * n,
        "rows": 100 * n,
        "statements": 2,
        "transactional": True,
        "locks": [
            {
                "relation": "public.orders",
                "kind": "table",
                "mode": "ACCESS EXCLUSIVE",
                "blocks": "reads and writes",
                "statement": 1,
                "line": 1,
                "bytes": 1000,
                "held_seconds": 0.5,
                "waited": False,
                "rows": 30000,
            }
        ],
        "rollback": {"status": "rolled_back", "seconds": 0.2, "rows": 0, "locks": []},
        **extra,
    }


def add_rehearsals(run, project, names: list[str], migrations: int) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        database = Database.objects.create(project=project, name=name, dsn_env="APP_URL")
        at = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
        backup = Backup.objects.create(
            database=database, started_at=at, finished_at=at, verified=True
        )
        MigrationRehearsal.objects.create(
            run=run,
            database=database,
            backup=backup,
            status="failed",
            pending_source="the database's own history table public._prisma_migrations",
            migrations=[migration(n + 1) for n in range(migrations - 1)]
            + [
                migration(
                    migrations,
                    "failed",
                    error='syntax error at or near "NUL"',
                    statement="ALTER TABLE customers ADD COLUMN b int NOT NUL",
                    line=4,
                    rollback={"status": "not_run"},
                )
            ],
            restore_seconds=3.5,
            migrate_seconds=2.0,
            rollback_seconds=0.2,
            total_seconds=7.0,
            scratch_bytes=50 * 2**20,
            schema_diff="+    legacy_code text",
        )


def test_the_release_page_shows_each_migration_of_the_rehearsal(
    client_of, approver, release, environments
):
    run = RunFactory(release=release, environment=environments["production"])
    add_rehearsals(run, release.project, ["main"], 2)

    html = client_of(approver).get(PATH).content.decode()

    assert 'id="rehearsals"' in html
    rehearsal = MigrationRehearsal.objects.get()
    assert f"#{rehearsal.pk} · main" in html
    assert f"Backup #{rehearsal.backup_id} taken 2026-11-30 03:00 UTC" in html
    assert "restored in 3.50 s" in html
    assert "scratch database up to 50 MB" in html
    assert "20250601_step" in html
    assert "1.25 s" in html
    assert "ACCESS EXCLUSIVE on public.orders (30000 rows), 0.5 s" in html
    assert "syntax error at or near &quot;NUL&quot; (line 4)" in html
    assert "ALTER TABLE customers ADD COLUMN b int NOT NUL" in html
    assert "rolled back" in html
    assert "not run" in html
    assert "+    legacy_code text" in html


def test_a_run_without_a_rehearsal_shows_none(client_of, approver, release, environments):
    RunFactory(release=release, environment=environments["production"])

    html = client_of(approver).get(PATH).content.decode()

    assert 'id="rehearsals"' not in html


def test_the_rehearsals_cost_the_same_queries_with_one_or_many(
    client_of, approver, release, environments
):
    run = RunFactory(release=release, environment=environments["production"])
    client = client_of(approver)
    add_rehearsals(run, release.project, ["main"], 1)
    with CaptureQueriesContext(connection) as few:
        client.get(PATH)
    add_rehearsals(run, release.project, ["audit", "billing", "stock"], 40)
    with CaptureQueriesContext(connection) as many:
        response = client.get(PATH)

    assert len(many.captured_queries) == len(few.captured_queries)
    assert response.content.decode().count('class="rehearsal"') == 4
