"""What migration rehearsal tests share: an application database on the test run's PostgreSQL
server with real rows (and a Prisma history table), its verified backup, release trees under
PREFLIGHT_REPOSITORY_ROOT, and the checks of a run rehearsed the way a run evaluates them."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from backups import pg
from checks.kinds import Outcome, get_kind
from checks.models import Check, CheckResult, ReadinessRun
from checks.services import runs
from checks.services.sources import last_verified_release
from releases.models import Environment, Release
from tests.factories import CategoryFactory, CheckFactory, RunFactory

APP_ENV = "SHOP_APP_DATABASE_URL"
SCRATCH_PREFIX = "preflight_rehearsal_"
CUSTOMERS, ORDERS = 200, 30_000
INIT = "20250101000000_init"

SCHEMA = f"""
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers(id),
    total numeric(10, 2) NOT NULL
);
INSERT INTO customers (name) SELECT 'customer ' || n FROM generate_series(1, {CUSTOMERS}) n;
INSERT INTO orders (customer_id, total)
  SELECT 1 + n % {CUSTOMERS}, n * 1.5 FROM generate_series(1, {ORDERS}) n;
CREATE TABLE _prisma_migrations (
    id varchar(36) PRIMARY KEY,
    checksum varchar(64) NOT NULL,
    finished_at timestamptz,
    migration_name varchar(255) NOT NULL,
    logs text,
    rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    applied_steps_count integer NOT NULL DEFAULT 0
);
INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
  VALUES ('a1', 'c0ffee', now(), '{INIT}', 1);
"""
# The migration the database already has (by its history table): never applied again.
INIT_SQL = "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);\n"


def server_dsn() -> str:
    return os.environ["DATABASE_URL"]


def scratch_databases() -> list[str]:
    return pg.databases_like(server_dsn(), SCRATCH_PREFIX)


def create_app_database(extra_sql: str = "") -> str:
    name = f"shop_app_{secrets.token_hex(4)}"
    pg.create_database(server_dsn(), name)
    dsn = pg.dsn_for(server_dsn(), name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA + extra_sql)
        conn.execute("VACUUM ANALYZE")
    return name


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def prisma_tree(root: Path, version: str, migrations: Mapping[str, tuple[str, str | None]]) -> Path:
    """A release's tree with Prisma migrations: the one the database has, then ``migrations``
    (directory name → (migration.sql, rollback.sql or None))."""
    files = {f"prisma/migrations/{INIT}/migration.sql": INIT_SQL}
    for name, (forward, rollback) in migrations.items():
        files[f"prisma/migrations/{name}/migration.sql"] = forward
        if rollback is not None:
            files[f"prisma/migrations/{name}/rollback.sql"] = rollback
    return write_tree(root / version, files)


def make_checks(project: Any, configs: Mapping[str, Mapping[str, Any]]) -> list[Check]:
    """Checks of kind migration_rehearsal, configs validated as the catalog import does."""
    category = CategoryFactory(project=project, key="migrations", weight=100)
    kind = get_kind("migration_rehearsal")
    return [
        CheckFactory(
            project=project,
            category=category,
            code=code,
            kind="migration_rehearsal",
            severity="critical",
            config=kind.validate(config),
            position=position,
        )
        for position, (code, config) in enumerate(configs.items())
    ]


def new_run(release: Release, environment: Environment, checks: list[Check]) -> ReadinessRun:
    run = RunFactory(release=release, environment=environment, status="running", finished_at=None)
    CheckResult.objects.bulk_create(
        CheckResult(run=run, check_item=c, category=c.category, severity=c.severity) for c in checks
    )
    return run


def evaluate(run: ReadinessRun, checks: list[Check]) -> dict[str, Outcome]:
    """Each check evaluated as the run evaluates it (its context, its kind), one after another."""
    verified = last_verified_release(run.release, run.environment)
    return {
        check.code: get_kind(check.kind).evaluate(runs._context(run, check, verified))
        for check in checks
    }


def rehearse(
    release: Release,
    environment: Environment,
    configs: Mapping[str, Mapping[str, Any]],
) -> tuple[ReadinessRun, dict[str, Outcome]]:
    checks = make_checks(release.project, configs)
    run = new_run(release, environment, checks)
    return run, evaluate(run, checks)
