"""Migration rehearsals on the throwaway PostgreSQL with real rows: a release's migrations applied
to a restored copy of the newest verified backup, watched, asserted, rolled back and compared;
each check judging one aspect of the run's one rehearsal, the scratch database gone every time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audit.models import AuditEvent
from backups import pg
from backups.models import Backup, Database
from backups.services.taking import backup_take_now
from checks.catalog import CatalogInvalid, import_catalog
from checks.kinds.repository.source.config import validate_repository
from checks.models import Check, MigrationRehearsal
from checks.services.runs import run_execute, run_start
from releases.models import Release
from tests.conftest import as_actor
from tests.factories import DeploymentFactory, ReleaseFactory

from .git_repos import Origin
from .rehearsals import (
    APP_ENV,
    CUSTOMERS,
    INIT_SQL,
    ORDERS,
    create_app_database,
    evaluate,
    make_checks,
    new_run,
    prisma_tree,
    rehearse,
    scratch_databases,
    server_dsn,
    write_tree,
)

pytestmark = pytest.mark.django_db

ADD_POINTS = (
    "ALTER TABLE customers ADD COLUMN loyalty_points integer NOT NULL DEFAULT 0;\n"
    "UPDATE customers SET loyalty_points = id % 7;\n",
    "ALTER TABLE customers DROP COLUMN loyalty_points;\n",
)
POINTS_ARE_POSITIVE = {
    "name": "points are never negative",
    "sql": "SELECT bool_and(loyalty_points >= 0) FROM customers",
}


@pytest.fixture(autouse=True)
def backup_settings(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_BACKUP_DIR = tmp_path / "backups"
    settings.PREFLIGHT_BACKUP_WORK_DIR = ""
    settings.PREFLIGHT_BACKUP_S3_BUCKET = ""
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path / "trees"
    monkeypatch.delenv(settings.PREFLIGHT_BACKUP_KEY_ENV, raising=False)
    return settings


@pytest.fixture
def app_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = create_app_database()
    monkeypatch.setenv(APP_ENV, pg.dsn_for(server_dsn(), name))
    yield name
    pg.drop_database(server_dsn(), name)


@pytest.fixture
def database(project, app_database) -> Database:  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env=APP_ENV)


@pytest.fixture
def backup(database: Database) -> Backup:
    taken = backup_take_now(database)
    assert taken.verified, taken.error
    return taken


@pytest.fixture
def trees(settings) -> Path:  # type: ignore[no-untyped-def]
    root = Path(settings.PREFLIGHT_REPOSITORY_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def configs(**per_aspect: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One check per aspect, the first carrying the rehearsal's shared settings."""
    codes = {
        "rollback": "MG-001",
        "dry_run": "MG-002",
        "assertions": "MG-003",
        "duration": "MG-005",
    }
    out = {}
    for position, (aspect, extra) in enumerate(per_aspect.items()):
        shared = {"layout": "prisma", "path": "{version}"} if position == 0 else {}
        out[codes[aspect]] = {"database": "main", "aspect": aspect, **shared, **extra}
    return out


def pg_size_of_a_restored_copy(backup: Backup) -> int:
    """About what a restored copy of the backup takes: its source database's size."""
    with psycopg.connect(os.environ[backup.database.dsn_env]) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def the_rehearsal(run) -> MigrationRehearsal:  # type: ignore[no-untyped-def]
    return MigrationRehearsal.objects.get(run=run)


def test_a_migration_that_applies_and_rolls_back_cleanly_passes_every_aspect(
    release, environments, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})

    run, outcomes = rehearse(
        release,
        environments["production"],
        configs(
            rollback={},
            dry_run={},
            assertions={"assertions": [POINTS_ARE_POSITIVE]},
            duration={"budget_seconds": 600, "total_budget_seconds": 900},
        ),
    )

    assert {code: o.status for code, o in outcomes.items()} == dict.fromkeys(
        ("MG-001", "MG-002", "MG-003", "MG-005"), "pass"
    ), {c: o.detail for c, o in outcomes.items()}
    rehearsal = the_rehearsal(run)
    assert rehearsal.status == MigrationRehearsal.Status.PASSED
    assert rehearsal.backup_id == backup.pk
    # The database's own history says it has the first migration: only the new one ran.
    assert [m["name"] for m in rehearsal.migrations] == ["20250601000000_loyalty"]
    assert "public._prisma_migrations" in rehearsal.pending_source
    migration = rehearsal.migrations[0]
    assert migration["status"] == "applied"
    assert migration["rows"] == CUSTOMERS  # the UPDATE's rows
    assert migration["transactional"] is True
    assert migration["rollback"]["status"] == "rolled_back"
    assert rehearsal.rollback_ok is True
    assert rehearsal.schema_diff == ""
    assert rehearsal.assertions == [
        {**POINTS_ARE_POSITIVE, "passed": True, "detail": "holds (True)"}
    ]
    assert {"table": "public.orders", "expected": ORDERS, "actual": ORDERS} in rehearsal.row_counts
    for outcome in outcomes.values():
        assert f"Rehearsal #{rehearsal.pk} of main on backup #{backup.pk}" in outcome.detail
        assert outcome.data["rehearsal"] == rehearsal.pk
    assert scratch_databases() == []
    event = AuditEvent.objects.get(action="rehearsal.finished")
    assert event.outcome == "success"
    assert event.object_id == str(rehearsal.pk)


def test_a_rollback_that_leaves_a_column_behind_fails_with_the_schema_diff(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_codes": (
                "ALTER TABLE customers ADD COLUMN legacy_code text;\n"
                "ALTER TABLE customers ADD COLUMN tier text;\n",
                "ALTER TABLE customers DROP COLUMN tier;\n",
            )
        },
    )

    run, outcomes = rehearse(release, environments["production"], configs(rollback={}, dry_run={}))

    rollback = outcomes["MG-001"]
    assert rollback.status == "fail"
    assert "the rollback leaves the schema different" in rollback.detail.lower()
    assert "legacy_code" in rollback.detail
    assert "+    legacy_code text" in rollback.data["schema_diff"]
    assert "tier" not in rollback.data["schema_diff"]
    assert outcomes["MG-002"].status == "pass"  # it applies; only its rollback is wrong
    rehearsal = the_rehearsal(run)
    assert rehearsal.status == MigrationRehearsal.Status.FAILED
    assert rehearsal.rollback_ok is False
    assert scratch_databases() == []


def test_a_migration_without_rollback_sql_fails_the_rollback_aspect(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {"20250601000000_loyalty": (ADD_POINTS[0], "-- nothing to undo\nBEGIN; COMMIT;\n")},
    )

    _run, outcomes = rehearse(release, environments["production"], configs(rollback={}))

    assert outcomes["MG-001"].status == "fail"
    assert "No rollback SQL for 20250601000000_loyalty" in outcomes["MG-001"].detail
    assert scratch_databases() == []


def test_a_migration_that_breaks_a_data_assertion_fails_the_assertions_aspect(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_refunds": (
                "UPDATE orders SET total = -total WHERE id % 100 = 0;\n",
                "UPDATE orders SET total = -total WHERE id % 100 = 0;\n",
            )
        },
    )
    no_negative = {
        "name": "no order has a negative total",
        "sql": "SELECT count(*) = 0 FROM orders WHERE total < 0",
        "message": "orders with negative totals",
    }

    run, outcomes = rehearse(
        release,
        environments["production"],
        configs(dry_run={}, assertions={"assertions": [no_negative, POINTS_OFF]}),
    )

    assertions = outcomes["MG-003"]
    assert assertions.status == "fail"
    assert "no order has a negative total: orders with negative totals" in assertions.detail
    assert outcomes["MG-002"].status == "pass"
    passed = {a["name"]: a["passed"] for a in the_rehearsal(run).assertions}
    assert passed == {"no order has a negative total": False, "orders exist": True}
    assert scratch_databases() == []


POINTS_OFF = {"name": "orders exist", "sql": "SELECT count(*) > 0 FROM orders"}


def test_a_migration_that_loses_rows_fails_on_the_backups_manifest(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_purge": (
                "DELETE FROM orders WHERE id > 29000;\n",
                "SELECT 1;\n",
            )
        },
    )

    _run, outcomes = rehearse(
        release, environments["production"], configs(assertions={"row_counts": "no_loss"})
    )

    assert outcomes["MG-003"].status == "fail"
    assert f"public.orders has 29,000 rows, {ORDERS:,} in the backup" in outcomes["MG-003"].detail


def test_a_migration_over_its_budget_fails_the_duration_aspect(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_slow": (
                "SELECT pg_sleep(0.3);\nALTER TABLE customers ADD COLUMN nickname text;\n",
                "ALTER TABLE customers DROP COLUMN nickname;\n",
            )
        },
    )

    _run, outcomes = rehearse(
        release,
        environments["production"],
        configs(duration={"budget_seconds": 0.1, "over_budget": "fail"}),
    )

    duration = outcomes["MG-005"]
    assert duration.status == "fail"
    assert "20250601000000_slow took" in duration.detail
    assert "(budget 0.10 s)" in duration.detail
    assert duration.data["over_budget"][0]["name"] == "20250601000000_slow"
    assert duration.data["over_budget"][0]["seconds"] >= 0.3


def test_an_access_exclusive_lock_on_a_large_table_is_reported(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_note": (
                "ALTER TABLE orders ADD COLUMN note text;\n",
                "ALTER TABLE orders DROP COLUMN note;\n",
            ),
            "20250602000000_index": (
                "CREATE INDEX orders_total ON orders (total);\n",
                "DROP INDEX orders_total;\n",
            ),
        },
    )

    run, outcomes = rehearse(release, environments["production"], configs(dry_run={}))

    dry_run = outcomes["MG-002"]
    assert dry_run.status == "warn", dry_run.detail
    assert f"public.orders ({ORDERS:,} rows) held ACCESS EXCLUSIVE for" in dry_run.detail, (
        dry_run.detail
    )
    assert (
        "by 20250601000000_note statement 1 (line 1), blocking reads and writes" in dry_run.detail
    )
    locks = {(lock["migration"], lock["mode"]) for lock in dry_run.data["locks"]}
    assert locks == {
        ("20250601000000_note", "ACCESS EXCLUSIVE"),
        ("20250602000000_index", "SHARE"),  # an index built in place blocks writes
    }
    note = the_rehearsal(run).migrations[0]
    assert note["locks"][0]["relation"] == "public.orders"
    assert note["locks"][0]["rows"] == ORDERS
    assert note["locks"][0]["bytes"] > 0
    assert scratch_databases() == []


def test_an_index_built_concurrently_runs_outside_a_transaction_and_blocks_no_writes(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_index": (
                "CREATE INDEX CONCURRENTLY orders_total ON orders (total);\n",
                "DROP INDEX CONCURRENTLY orders_total;\n",
            )
        },
    )

    run, outcomes = rehearse(release, environments["production"], configs(dry_run={}, rollback={}))

    assert outcomes["MG-002"].status == "pass", outcomes["MG-002"].detail
    assert outcomes["MG-001"].status == "pass", outcomes["MG-001"].detail
    migration = the_rehearsal(run).migrations[0]
    assert migration["transactional"] is False
    assert migration["locks"] == []


def test_each_migration_counts_only_the_rows_it_touched(release, environments, backup, trees):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_points": ADD_POINTS,  # one UPDATE of every customer
            "20250602000000_more": (
                "INSERT INTO customers (name) SELECT 'late ' || n FROM generate_series(1, 5) n;\n",
                "DELETE FROM customers WHERE name LIKE 'late %';\n",
            ),
        },
    )

    run, _ = rehearse(release, environments["production"], configs(dry_run={}, rollback={}))

    rows = [(m["name"], m["rows"]) for m in the_rehearsal(run).migrations]
    assert rows == [("20250601000000_points", CUSTOMERS), ("20250602000000_more", 5)]


def test_a_failure_inside_a_files_own_transaction_is_that_migrations_failure(
    release, environments, backup, trees
):
    # Its own BEGIN/COMMIT and an index built concurrently: the file runs as written, outside
    # the rehearsal's transaction.
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_ok": ADD_POINTS,
            "20250602000000_own_transaction": (
                "BEGIN;\nALTER TABLE customers ADD COLUMN x int;\n"
                "ALTER TABLE nowhere ADD COLUMN y int;\nCOMMIT;\n"
                "CREATE INDEX CONCURRENTLY customers_x ON customers (x);\n",
                "DROP INDEX CONCURRENTLY customers_x;\nALTER TABLE customers DROP COLUMN x;\n",
            ),
        },
    )

    run, outcomes = rehearse(release, environments["production"], configs(dry_run={}, rollback={}))

    dry_run = outcomes["MG-002"]
    assert dry_run.status == "fail", dry_run.detail
    assert 'relation "nowhere" does not exist' in dry_run.detail
    assert (
        "prisma/migrations/20250602000000_own_transaction/migration.sql:3: "
        "ALTER TABLE nowhere ADD COLUMN y int" in dry_run.detail
    )
    statuses = [(m["name"], m["status"]) for m in the_rehearsal(run).migrations]
    assert statuses == [
        ("20250601000000_ok", "applied"),
        ("20250602000000_own_transaction", "failed"),
    ]
    assert scratch_databases() == []


def test_a_broken_sql_file_fails_with_the_statement_and_its_line(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_ok": ADD_POINTS,
            "20250602000000_broken": (
                "ALTER TABLE customers ADD COLUMN a int;\n\n-- the typo\n"
                "ALTER TABLE customers ADD COLUMN b int NOT NUL;\n",
                "ALTER TABLE customers DROP COLUMN b, DROP COLUMN a;\n",
            ),
            "20250603000000_later": ("ALTER TABLE customers ADD COLUMN c int;\n", "SELECT 1;"),
        },
    )

    run, outcomes = rehearse(
        release,
        environments["production"],
        configs(dry_run={}, rollback={}, assertions={"row_counts": "exact"}),
    )

    dry_run = outcomes["MG-002"]
    assert dry_run.status == "fail"
    assert dry_run.detail.startswith(
        "20250602000000_broken fails on a copy of the data: syntax error"
    )
    assert (
        "prisma/migrations/20250602000000_broken/migration.sql:4: "
        "ALTER TABLE customers ADD COLUMN b int NOT NUL" in dry_run.detail
    )
    statuses = [(m["name"], m["status"]) for m in the_rehearsal(run).migrations]
    assert statuses == [
        ("20250601000000_ok", "applied"),
        ("20250602000000_broken", "failed"),
        ("20250603000000_later", "not_run"),
    ]
    # The one applied before it was rolled back; the broken one's own rollback never ran.
    assert outcomes["MG-001"].status == "error"
    assert "20250602000000_broken did not apply" in outcomes["MG-001"].detail
    assert outcomes["MG-003"].status == "error"
    assert scratch_databases() == []


def test_a_rehearsal_past_its_time_limit_stops_and_drops_its_scratch_database(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {"20250601000000_forever": ("SELECT pg_sleep(60);\n", "SELECT 1;\n")},
    )

    run, outcomes = rehearse(
        release,
        environments["production"],
        configs(dry_run={"timeout_minutes": 0.05}, duration={}),
    )

    assert outcomes["MG-002"].status == "error"
    assert "ran out during this statement" in outcomes["MG-002"].detail
    rehearsal = the_rehearsal(run)
    assert rehearsal.status == MigrationRehearsal.Status.ERROR
    assert rehearsal.stage == "migrate"
    assert rehearsal.migrations[0]["statement"] == "SELECT pg_sleep(60)"
    assert scratch_databases() == []


def test_a_scratch_database_past_its_size_limit_is_stopped(release, environments, backup, trees):
    prisma_tree(
        trees,
        release.version,
        {"20250601000000_pause": ("SELECT pg_sleep(5);\n", "SELECT 1;\n")},
    )

    run, outcomes = rehearse(
        release, environments["production"], configs(dry_run={"max_scratch_mb": 1})
    )

    assert outcomes["MG-002"].status == "error"
    assert "past the rehearsal's limit of 1 MB" in outcomes["MG-002"].detail
    rehearsal = the_rehearsal(run)
    assert rehearsal.stage == "restore"
    assert rehearsal.scratch_bytes is not None
    assert rehearsal.scratch_bytes > 2**20
    assert scratch_databases() == []


def test_a_migration_that_grows_the_scratch_database_past_its_limit_is_stopped(
    release, environments, backup, trees
):
    prisma_tree(
        trees,
        release.version,
        {
            "20250601000000_bloat": (
                "CREATE TABLE blobs AS SELECT n, md5(random()::text) || md5(random()::text)"
                " || md5(random()::text) AS body FROM generate_series(1, 200000) n;\n"
                "SELECT pg_sleep(3);\n",
                "DROP TABLE blobs;\n",
            )
        },
    )
    restored = pg_size_of_a_restored_copy(backup)

    run, outcomes = rehearse(
        release,
        environments["production"],
        configs(dry_run={"max_scratch_mb": round(restored / 2**20 + 5)}),
    )

    assert outcomes["MG-002"].status == "error", outcomes["MG-002"].detail
    assert "the migration was stopped" in outcomes["MG-002"].detail
    rehearsal = the_rehearsal(run)
    assert rehearsal.stage == "migrate"
    assert rehearsal.migrations[0]["status"] == "failed"
    assert scratch_databases() == []


def test_a_damaged_backup_is_refused_on_its_checksum_before_anything_is_restored(
    release, environments, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})
    path = Path(backup.location.removeprefix("file://"))
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")

    run, outcomes = rehearse(release, environments["production"], configs(dry_run={}))

    assert outcomes["MG-002"].status == "error"
    assert "Checksum mismatch" in outcomes["MG-002"].detail
    assert the_rehearsal(run).migrations == []
    assert scratch_databases() == []


def test_without_a_verified_backup_the_checks_wait(release, environments, database, trees):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})

    _run, outcomes = rehearse(release, environments["production"], configs(dry_run={}))

    assert outcomes["MG-002"].status == "error"
    assert "No verified backup of main that Preflight can read" in outcomes["MG-002"].detail
    assert scratch_databases() == []


def test_an_untracked_database_leaves_the_checks_pending(release, environments, trees):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})

    _run, outcomes = rehearse(release, environments["production"], configs(dry_run={}))

    assert outcomes["MG-002"].status == "pending"
    assert not MigrationRehearsal.objects.exists()


def test_a_flyway_tree_applies_the_versions_its_history_table_lacks(
    project, release, environments, trees, monkeypatch
):
    name = create_app_database(
        """
        CREATE TABLE flyway_schema_history (
            installed_rank int PRIMARY KEY, version varchar(50), description varchar(200),
            type varchar(20), script varchar(1000), checksum int, installed_by varchar(100),
            installed_on timestamp DEFAULT now(), execution_time int, success boolean
        );
        INSERT INTO flyway_schema_history VALUES
          (1, '1', 'init', 'SQL', 'V1__init.sql', 0, 'ci', now(), 5, true),
          (2, '1.1', 'broken', 'SQL', 'V1_1__broken.sql', 0, 'ci', now(), 5, false);
        """
    )
    monkeypatch.setenv(APP_ENV, pg.dsn_for(server_dsn(), name))
    try:
        database = Database.objects.create(project=project, name="main", dsn_env=APP_ENV)
        backup_take_now(database)
        write_tree(
            trees / release.version,
            {
                "db/migration/V1__init.sql": INIT_SQL_FLYWAY,
                "db/migration/V1_1__tier.sql": "ALTER TABLE customers ADD COLUMN tier text;",
                "db/migration/undo/U1_1__tier.sql": "ALTER TABLE customers DROP COLUMN tier;",
                "db/migration/V2__rank.sql": "ALTER TABLE customers ADD COLUMN rank int;",
                "db/migration/undo/U2__rank.sql": "ALTER TABLE customers DROP COLUMN rank;",
            },
        )

        run, outcomes = rehearse(
            release,
            environments["production"],
            {
                "MG-001": {
                    "database": "main",
                    "aspect": "rollback",
                    "layout": "flyway",
                    "path": "{version}",
                },
            },
        )
    finally:
        pg.drop_database(server_dsn(), name)

    assert outcomes["MG-001"].status == "pass", outcomes["MG-001"].detail
    rehearsal = the_rehearsal(run)
    # Version 1.1 failed once: Flyway would run it again, and so does the rehearsal.
    assert [m["name"] for m in rehearsal.migrations] == ["V1_1__tier", "V2__rank"]
    assert "public.flyway_schema_history" in rehearsal.pending_source


INIT_SQL_FLYWAY = "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);"


def test_numbered_migrations_are_those_added_since_the_release_verified_in_the_environment(
    project, release, environments, backup, trees
):
    production = environments["production"]
    earlier = ReleaseFactory(project=project, version="0.9.0", git_sha="a" * 40)
    DeploymentFactory(release=earlier, environment=production, status="verified")
    first = {
        "migrations/0001_init.up.sql": INIT_SQL,
        "migrations/0001_init.down.sql": "DROP TABLE customers;",
    }
    write_tree(trees / earlier.git_sha, first)
    write_tree(
        trees / release.git_sha,
        first
        | {
            "migrations/0002_points.up.sql": f"BEGIN;\n{ADD_POINTS[0]}COMMIT;\n",
            "migrations/0002_points.down.sql": ADD_POINTS[1],
        },
    )

    run, outcomes = rehearse(
        release,
        production,
        {
            "MG-001": {
                "database": "main",
                "aspect": "rollback",
                "layout": "numbered",
                "path": "{git_sha}",
            }
        },
    )

    assert outcomes["MG-001"].status == "pass", outcomes["MG-001"].detail
    rehearsal = the_rehearsal(run)
    assert [m["name"] for m in rehearsal.migrations] == ["0002_points"]
    assert rehearsal.pending_source == "the migrations added since 0.9.0 (verified in production)"
    assert rehearsal.migrations[0]["transactional"] is True  # its own BEGIN/COMMIT left out


def test_numbered_migrations_without_a_release_verified_before_are_not_guessed(
    release, environments, backup, trees
):
    write_tree(trees / "tree", {"migrations/0001_init.up.sql": INIT_SQL})

    _run, outcomes = rehearse(
        release,
        environments["production"],
        {"MG-002": {"database": "main", "aspect": "dry_run", "layout": "numbered", "path": "tree"}},
    )

    assert outcomes["MG-002"].status == "error"
    assert "No release has been verified in production yet" in outcomes["MG-002"].detail


def test_a_finished_rehearsal_is_reused_by_the_runs_later_checks(
    release: Release, environments, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})

    run, first = rehearse(release, environments["production"], configs(dry_run={}, rollback={}))

    assert MigrationRehearsal.objects.count() == 1
    assert AuditEvent.objects.filter(action="rehearsal.finished").count() == 1
    assert the_rehearsal(run).attempts == 1
    assert first["MG-001"].data["rehearsal"] == first["MG-002"].data["rehearsal"]


@pytest.mark.django_db(transaction=True)
def test_the_checks_of_a_run_evaluated_at_once_share_one_rehearsal(
    release, environments, deployer, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})
    make_checks(
        release.project,
        configs(
            rollback={},
            dry_run={},
            assertions={"assertions": [POINTS_ARE_POSITIVE]},
            duration={"budget_seconds": 600, "total_budget_seconds": 900},
        ),
    )
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["production"]
    )

    run_execute(run.pk)

    statuses = dict(run.results.values_list("check_item__code", "status"))
    assert statuses == dict.fromkeys(("MG-001", "MG-002", "MG-003", "MG-005"), "pass")
    rehearsal = MigrationRehearsal.objects.get()
    assert rehearsal.run_id == run.pk
    assert rehearsal.attempts == 1
    assert AuditEvent.objects.filter(action="rehearsal.finished").count() == 1
    assert {r.data["rehearsal"] for r in run.results.all()} == {rehearsal.pk}
    assert scratch_databases() == []


def test_a_rehearsal_left_running_by_a_dead_worker_is_taken_up_and_its_leftovers_dropped(
    release, environments, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})
    checks = make_checks(release.project, configs(dry_run={}))
    run = new_run(release, environments["production"], checks)
    dead = MigrationRehearsal.objects.create(run=run, database=backup.database, attempts=1)
    leftover = f"preflight_rehearsal_{dead.pk}_deadbeef"
    pg.create_database(server_dsn(), leftover)

    outcomes = evaluate(run, checks)

    assert outcomes["MG-002"].status == "pass", outcomes["MG-002"].detail
    dead.refresh_from_db()
    assert dead.status == MigrationRehearsal.Status.PASSED
    assert dead.attempts == 2
    assert scratch_databases() == []


CATALOG = """
version: 1
project: shop
categories:
  - {{key: migrations, name: Database Migrations, weight: 100}}
checks:
  - code: MG-001
    title: Every migration rolls back
    category: migrations
    severity: critical
    kind: migration_rehearsal
    config: {{database: main, aspect: rollback, layout: prisma, path: "checkouts/{{git_sha}}"}}
  - code: MG-005
    title: Migrations within budget
    category: migrations
    severity: high
    kind: migration_rehearsal
    config: {{database: main, aspect: duration, {second}}}
"""


def test_the_catalog_takes_rehearsal_checks_that_state_the_shared_settings_once(project, admin):
    summary = import_catalog(
        text=CATALOG.format(second="budget_seconds: 30, over_budget: fail"),
        project=project,
        actor=as_actor(admin),
    )

    assert summary.created == ["MG-001", "MG-005"]
    duration = Check.objects.get(code="MG-005").config
    assert duration == {
        "database": "main",
        "aspect": "duration",
        "budget_seconds": 30.0,
        "total_budget_seconds": 300.0,
        "over_budget": "fail",
    }


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            "layout: flyway",
            "checks[1] (MG-005) field config.layout: MG-001 rehearses main with layout 'prisma'",
        ),
        (
            "row_counts: exact",
            "field config.row_counts: is a setting of aspect assertions, not duration",
        ),
        ("budget_seconds: -1", "field config.budget_seconds: must be between"),
        ("timeout_minutes: 600", "field config.timeout_minutes: must be between"),
    ],
)
def test_the_catalog_refuses_rehearsal_checks_that_disagree_or_misplace_a_setting(
    project, admin, second, message
):
    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(text=CATALOG.format(second=second), project=project, actor=as_actor(admin))

    assert any(message in error for error in refused.value.errors), refused.value.errors


def test_the_catalog_needs_the_layout_and_without_a_repository_the_path(project, admin):
    text = (
        CATALOG.format(second="budget_seconds: 30")
        .replace('layout: prisma, path: "checkouts/{git_sha}"', "aspect_note: 1")
        .replace(", aspect_note: 1", "")
    )

    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(text=text, project=project, actor=as_actor(admin))

    assert refused.value.errors == [
        "checks[0] (MG-001) field config.path: is required on one of the checks of main: where "
        "the release's tree is under PREFLIGHT_REPOSITORY_ROOT (or name the project's repository)",
        "checks[0] (MG-001) field config.layout: is required on one of the checks of main: one "
        "of prisma, flyway, numbered",
    ]


def test_numbered_migrations_of_a_git_commit_are_those_added_since_the_verified_release(
    project, environments, backup, trees, settings, tmp_path
):
    settings.PREFLIGHT_GIT_CACHE_DIR = tmp_path / "git-cache"
    origin = Origin(trees)
    first = origin.commit(
        {"db/0001_init.up.sql": INIT_SQL, "db/0001_init.down.sql": "DROP TABLE customers;\n"}
    )
    second = origin.commit(
        {"db/0002_points.up.sql": ADD_POINTS[0], "db/0002_points.down.sql": ADD_POINTS[1]}
    )
    project.repository = validate_repository({"url": str(origin.bare)})
    project.save(update_fields=["repository"])
    production = environments["production"]
    earlier = ReleaseFactory(project=project, version="0.9.0", git_sha=first)
    DeploymentFactory(release=earlier, environment=production, status="verified")
    release = ReleaseFactory(project=project, version="1.1.0", git_sha=second)

    run, outcomes = rehearse(
        release,
        production,
        {
            "MG-001": {
                "database": "main",
                "aspect": "rollback",
                "layout": "numbered",
                "migrations": "db",
            }
        },
    )

    assert outcomes["MG-001"].status == "pass", outcomes["MG-001"].detail
    rehearsal = the_rehearsal(run)
    assert [(m["name"], m["file"]) for m in rehearsal.migrations] == [
        ("0002_points", "db/0002_points.up.sql")
    ]
    assert rehearsal.pending_source == "the migrations added since 0.9.0 (verified in production)"
    assert scratch_databases() == []


def test_a_check_edited_to_disagree_with_the_runs_rehearsal_is_told_so(
    release, environments, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})
    checks = make_checks(release.project, configs(rollback={}, dry_run={}))
    # The catalog refuses this; an edit in the admin does not go through the catalog.
    Check.objects.filter(code="MG-002").update(
        config={
            "database": "main",
            "aspect": "dry_run",
            "blocking_locks": "warn",
            "lock_min_rows": 10000,
            "layout": "flyway",
        }
    )
    checks[1].refresh_from_db()
    run = new_run(release, environments["production"], checks)

    outcomes = evaluate(run, checks)

    assert outcomes["MG-001"].status == "pass", outcomes["MG-001"].detail
    assert outcomes["MG-002"].status == "error"
    assert (
        "with layout 'flyway', the run's rehearsal of it used 'prisma'" in outcomes["MG-002"].detail
    )


def test_a_rehearsal_drops_the_scratch_databases_finished_rehearsals_left_behind(
    release, environments, backup, trees
):
    prisma_tree(trees, release.version, {"20250601000000_loyalty": ADD_POINTS})
    earlier_run = new_run(release, environments["staging"], [])
    over = MigrationRehearsal.objects.create(
        run=earlier_run, database=backup.database, status="error", attempts=3
    )
    pg.create_database(server_dsn(), f"preflight_rehearsal_{over.pk}_0dd1ab1e")
    pg.create_database(server_dsn(), "preflight_rehearsal_elsewhere")

    _run, outcomes = rehearse(release, environments["production"], configs(dry_run={}))

    assert outcomes["MG-002"].status == "pass", outcomes["MG-002"].detail
    assert scratch_databases() == ["preflight_rehearsal_elsewhere"]
    pg.drop_database(server_dsn(), "preflight_rehearsal_elsewhere")
