"""file_exists, migrations_have_rollback and forbid_pattern on trees laid out as migration tools
and projects lay them out."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.kinds.repository import evaluate

from .conftest import context


@pytest.fixture
def tree(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path
    root = tmp_path / "shop" / "1.0.0"
    root.mkdir(parents=True)
    return root


def write(root: Path, name: str, text: str = "") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def check(rule: str, **config):  # type: ignore[no-untyped-def]
    return evaluate(context("repository", {"rule": rule, "path": "{project}/{version}", **config}))


def places(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{f.file}:{f.line}" if f.line else f.file for f in outcome.findings]


# file_exists


def test_file_exists_names_each_missing_file_as_a_finding(tree):
    write(tree, "deploy.sh", "#!/bin/sh\n")
    write(tree, "docs/runbook.md", "# Runbook\n")
    outcome = check("file_exists", files=["deploy.sh", "deploy.ps1", "docs/*.md", "SECURITY.md"])
    assert outcome.status == "fail"
    assert outcome.detail == "Missing: deploy.ps1, SECURITY.md."
    assert places(outcome) == ["deploy.ps1", "SECURITY.md"]


def test_file_exists_matches_directories_and_globs(tree):
    write(tree, "k8s/base/deployment.yaml", "kind: Deployment\n")
    assert check("file_exists", files=["k8s/", "k8s/**/deployment.yaml"]).status == "pass"


# migrations_have_rollback

CREATE = 'CREATE TABLE "Product" (id SERIAL PRIMARY KEY, sku TEXT NOT NULL);\n'
DROP = 'DROP TABLE "Product";\n'


def test_prisma_migrations_each_with_rollback_sql_pass(tree):
    for name in ("20250901120000_init", "20250915083000_products"):
        write(tree, f"prisma/migrations/{name}/migration.sql", CREATE)
        write(tree, f"prisma/migrations/{name}/down.sql", DROP)
    write(tree, "prisma/migrations/migration_lock.toml", 'provider = "postgresql"\n')
    outcome = check("migrations_have_rollback")
    assert outcome.status == "pass"
    assert outcome.detail == "2 of 2 migrations have rollback SQL."


def test_a_prisma_migration_without_rollback_is_named(tree):
    write(tree, "prisma/migrations/20250901_init/migration.sql", CREATE)
    write(tree, "prisma/migrations/20250901_init/rollback.sql", DROP)
    write(tree, "prisma/migrations/20250915_products/migration.sql", CREATE)
    outcome = check("migrations_have_rollback")
    assert outcome.status == "fail"
    assert places(outcome) == ["prisma/migrations/20250915_products/migration.sql"]
    assert outcome.data == {"missing": ["20250915_products"]}
    assert (
        "1 of 2 migrations have rollback SQL (looked for *rollback*.sql, down.sql)"
        in outcome.detail
    )


@pytest.mark.parametrize(
    "rollback",
    [
        "",
        "\n   \n\t\n",
        "-- TODO: write the rollback\n",
        "/* reverts 20250915_products\n   (to be written) */\n",
        "BEGIN;\n-- nothing yet\nCOMMIT;\n",
        ";\n",
    ],
)
def test_an_empty_rollback_does_not_count(tree, rollback):
    write(tree, "db/migrations/20250915_products/migration.sql", CREATE)
    write(tree, "db/migrations/20250915_products/rollback.sql", rollback)
    outcome = check("migrations_have_rollback")
    assert outcome.status == "fail"
    assert places(outcome) == ["db/migrations/20250915_products/rollback.sql:1"]
    assert "holds no SQL" in outcome.detail


def test_a_rollback_with_sql_between_comments_counts(tree):
    write(tree, "db/migrations/20250915_products/migration.sql", CREATE)
    write(
        tree,
        "db/migrations/20250915_products/rollback.sql",
        '-- reverts 20250915_products\nBEGIN;\n/* the table goes */ DROP TABLE "Product";\nCOMMIT;\n',
    )
    assert check("migrations_have_rollback").status == "pass"


def test_flyway_versions_with_undo_migrations(tree):
    base = "src/main/resources/db/migration"
    write(tree, f"{base}/V1__create_products.sql", CREATE)
    write(tree, f"{base}/U1__create_products.sql", DROP)
    write(tree, f"{base}/V1_1__add_price.sql", "ALTER TABLE product ADD price INT;\n")
    write(tree, f"{base}/undo/U1.1__drop_price.sql", "ALTER TABLE product DROP price;\n")
    write(tree, f"{base}/V2__sales.sql", "CREATE TABLE sale (id INT);\n")
    write(tree, f"{base}/U2__sales.sql", "-- no undo yet\n")
    write(tree, f"{base}/V3__audit.sql", "CREATE TABLE audit (id INT);\n")
    write(tree, f"{base}/R__views.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;\n")
    outcome = check("migrations_have_rollback")
    assert outcome.status == "fail"
    assert "2 of 4 migrations have rollback SQL" in outcome.detail
    assert places(outcome) == [f"{base}/U2__sales.sql:1", f"{base}/V3__audit.sql"]
    assert outcome.data == {"missing": ["V2__sales", "V3__audit"]}


def test_paired_up_and_down_files(tree):
    write(tree, "migrations/000001_create_users.up.sql", "CREATE TABLE users (id INT);\n")
    write(tree, "migrations/000001_create_users.down.sql", "DROP TABLE IF EXISTS users;\n")
    write(tree, "migrations/000002_add_email.up.sql", "ALTER TABLE users ADD email TEXT;\n")
    write(tree, "migrations/000002_add_email.down.sql", "")
    write(tree, "migrations/000003_orders.up.sql", "CREATE TABLE orders (id INT);\n")
    outcome = check("migrations_have_rollback")
    assert "1 of 3 migrations have rollback SQL" in outcome.detail
    assert places(outcome) == [
        "migrations/000002_add_email.down.sql:1",
        "migrations/000003_orders.up.sql",
    ]


def test_dbmate_files_hold_both_halves(tree):
    write(
        tree,
        "db/migrations/20250901_create_users.sql",
        "-- migrate:up\nCREATE TABLE users (id INT);\n\n-- migrate:down\nDROP TABLE users;\n",
    )
    write(
        tree,
        "db/migrations/20250915_add_email.sql",
        "-- migrate:up\nALTER TABLE users ADD email TEXT;\n\n-- migrate:down\n",
    )
    outcome = check("migrations_have_rollback")
    assert outcome.status == "fail"
    assert places(outcome) == ["db/migrations/20250915_add_email.sql:4"]


def test_directories_without_sql_are_no_migrations(tree):
    write(tree, "shop/migrations/0001_initial.py", "from django.db import migrations\n")
    write(tree, "shop/migrations/__pycache__/0001_initial.cpython-313.pyc", "")
    write(tree, "node_modules/.prisma/migrations/x/migration.sql", CREATE)
    outcome = check("migrations_have_rollback")
    assert outcome.status == "warn"
    assert outcome.detail.startswith("No migrations match")


def test_the_demo_trees_migrations(settings):
    settings.PREFLIGHT_REPOSITORY_ROOT = Path(__file__).resolve().parents[2] / "demo"
    config = {
        "rule": "migrations_have_rollback",
        "migrations": "backend/prisma/migrations/*/",
        "rollback": ["rollback.sql"],
    }
    review = evaluate(context("repository", {**config, "path": "liquor-pos/1.0.0"}))
    assert review.status == "fail"
    assert review.detail.startswith("1 of 5 migrations have rollback SQL")
    fixed = evaluate(context("repository", {**config, "path": "liquor-pos/1.1.0"}))
    assert fixed.detail == "6 of 6 migrations have rollback SQL."


# forbid_pattern


def test_forbid_pattern_names_file_and_line_and_shows_only_the_match(tree):
    write(
        tree,
        "rollback.sh",
        '#!/bin/bash\n# PGPASSWORD="${DB_PASSWORD:-old}" was the old way\n'
        'export PGPASSWORD="${DB_PASSWORD:-s3cr3t-default}"\npsql -U "${DB_USER:-postgres}"\n',
    )
    outcome = check(
        "forbid_pattern",
        files=["*.sh"],
        pattern=r"\$\{DB_(USER|PASSWORD|HOST):-",
        message="Database credentials fall back to hard-coded defaults",
    )
    assert outcome.status == "fail"
    assert places(outcome) == ["rollback.sh:3", "rollback.sh:4"]
    assert outcome.detail == (
        "Database credentials fall back to hard-coded defaults: "
        "rollback.sh:3: ${DB_PASSWORD:-; rollback.sh:4: ${DB_USER:-."
    )
    assert "s3cr3t" not in outcome.detail


def test_forbid_pattern_passes_without_a_match(tree):
    write(tree, "config/app.env", "DEBUG=false\n")
    assert check("forbid_pattern", files=["config/*.env"], pattern="DEBUG=true").status == "pass"
