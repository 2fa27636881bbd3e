"""The repository kind: each rule over small source trees in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.kinds import ConfigError, get_kind
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


def test_file_exists_passes_when_every_pattern_matches(tree):
    write(tree, "deploy.sh")
    write(tree, "docs/runbook.md")
    assert check("file_exists", files=["deploy.sh", "docs/*.md"]).status == "pass"


def test_file_exists_fails_naming_what_is_missing(tree):
    write(tree, "deploy.sh")
    outcome = check("file_exists", files=["deploy.sh", "deploy.ps1"])
    assert outcome.status == "fail"
    assert outcome.detail == "Missing: deploy.ps1."


def test_a_symlink_out_of_the_tree_does_not_count(tree, tmp_path):
    (tmp_path / "outside.ps1").write_text("")
    (tree / "deploy.ps1").symlink_to(tmp_path / "outside.ps1")
    assert check("file_exists", files=["deploy.ps1"]).status == "fail"


MIGRATION = "CREATE TABLE t (id int);"


def test_every_migration_with_rollback_sql_passes(tree):
    for name in ("001_init", "002_sales"):
        write(tree, f"db/migrations/{name}/migration.sql", MIGRATION)
        write(tree, f"db/migrations/{name}/rollback.sql", "DROP TABLE t;")
    outcome = check("migrations_have_rollback")
    assert outcome.status == "pass"
    assert outcome.detail == "2 of 2 migrations have rollback SQL."


def test_a_migration_without_rollback_sql_fails_naming_it(tree):
    write(tree, "db/migrations/001_init/migration.sql", MIGRATION)
    write(tree, "db/migrations/001_init/down.sql", "DROP TABLE t;")
    write(tree, "db/migrations/002_sales/migration.sql", MIGRATION)
    outcome = check("migrations_have_rollback")
    assert outcome.status == "fail"
    assert "1 of 2 migrations" in outcome.detail
    assert outcome.data == {"missing": ["002_sales"]}


def test_no_migration_directory_at_all_is_a_warning(tree):
    write(tree, "README.md")
    assert check("migrations_have_rollback").status == "warn"


COMPOSE_LIMITED = """
services:
  api:
    image: api
    deploy: {resources: {limits: {cpus: "1.0", memory: 512M}}}
  db:
    image: postgres
    cpus: 2
    mem_limit: 1g
"""
COMPOSE_UNLIMITED = """
services:
  api:
    image: api
    deploy: {resources: {limits: {cpus: "1.0"}}}
  db:
    image: postgres
"""


def test_compose_services_with_cpu_and_memory_limits_pass(tree):
    write(tree, "docker-compose.yml", COMPOSE_LIMITED)
    assert check("compose_resource_limits").status == "pass"


def test_compose_services_without_limits_fail_naming_what_lacks(tree):
    write(tree, "docker-compose.yml", COMPOSE_UNLIMITED)
    outcome = check("compose_resource_limits")
    assert outcome.status == "fail"
    assert "api (no memory limit)" in outcome.detail
    assert "db (no CPU and memory limit)" in outcome.detail


def test_a_missing_or_broken_compose_file(tree):
    assert check("compose_resource_limits").status == "fail"
    write(tree, "docker-compose.yml", "services: [unclosed")
    assert check("compose_resource_limits").status == "error"


def test_compose_secrets_from_variables_or_files_pass(tree):
    write(
        tree,
        "docker-compose.yml",
        """
services:
  db:
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
      POSTGRES_USER: pos
  api:
    environment:
      - JWT_SECRET=${JWT_SECRET:?set it}
      - LOG_LEVEL=info
""",
    )
    assert check("compose_no_plaintext_secrets").status == "pass"


def test_plaintext_secrets_in_compose_fail(tree):
    write(
        tree,
        "docker-compose.yml",
        """
services:
  db:
    environment:
      POSTGRES_PASSWORD: hunter2
  api:
    environment:
      - API_KEY=abc123
""",
    )
    outcome = check("compose_no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "db: POSTGRES_PASSWORD" in outcome.detail
    assert "api: API_KEY" in outcome.detail
    assert "hunter2" not in outcome.detail


def test_fixed_sleeps_in_deploy_scripts_fail(tree):
    write(tree, "deploy.sh", "docker compose up -d\nsleep 15\ncurl localhost\n")
    write(tree, "deploy.ps1", "Start-Sleep -Seconds 10\n")
    outcome = check("no_fixed_sleeps")
    assert outcome.status == "fail"
    assert "deploy.sh:2: sleep 15" in outcome.detail
    assert "deploy.ps1:1" in outcome.detail


def test_short_polling_sleeps_and_comments_are_not_fixed_waits(tree):
    write(
        tree,
        "deploy.sh",
        "# we used to sleep 30 here\nuntil curl -fs localhost/health; do sleep 1; done\n",
    )
    assert check("no_fixed_sleeps").status == "pass"
    write(tree, "deploy.sh", "sleep 1m\n")
    assert check("no_fixed_sleeps").status == "fail"


def test_a_ci_workflow_passes_when_present(tree):
    assert check("ci_workflow_exists").status == "fail"
    write(
        tree,
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: [{run: make test}]\n",
    )
    outcome = check("ci_workflow_exists")
    assert outcome.status == "pass"
    assert ".github/workflows/ci.yml" in outcome.detail


def test_forbid_pattern(tree):
    write(tree, "app.env", "DEBUG=false\n")
    config = {"files": ["*.env"], "pattern": r"DEBUG=true", "message": "Debug on"}
    assert check("forbid_pattern", **config).status == "pass"
    write(tree, "app.env", "DEBUG=true\n")
    outcome = check("forbid_pattern", **config)
    assert outcome.status == "fail"
    assert outcome.detail.startswith("Debug on: app.env:1")


def test_a_missing_tree_is_an_error(tree):
    outcome = evaluate(context("repository", {"rule": "ci_workflow_exists", "path": "shop/9.9.9"}))
    assert outcome.status == "error"
    assert "No source tree at shop/9.9.9" in outcome.detail


def test_a_placeholder_cannot_lead_out_of_the_root(tree):
    outcome = evaluate(
        context("repository", {"rule": "ci_workflow_exists", "path": "{version}"}, version="../..")
    )
    assert outcome.status == "error"
    assert "outside the repository root" in outcome.detail


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"rule": "nope", "path": "x"}, "rule"),
        # A missing path is the catalog's to refuse: it knows whether a repository is named.
        ({"rule": "file_exists", "path": "", "files": ["x"]}, "path"),
        ({"rule": "file_exists", "path": "/etc"}, "path"),
        ({"rule": "file_exists", "path": "a/../b", "files": ["x"]}, "path"),
        ({"rule": "file_exists", "path": "x"}, "files"),
        ({"rule": "file_exists", "path": "x", "files": ["../secret"]}, "files"),
        ({"rule": "forbid_pattern", "path": "x", "files": ["*"], "pattern": "("}, "pattern"),
        ({"rule": "ci_workflow_exists", "path": "x", "files": ["a"]}, "files"),
        ({"rule": "no_fixed_sleeps", "path": "x", "min_seconds": -1}, "min_seconds"),
    ],
)
def test_invalid_configs_are_refused_naming_the_field(config, field):
    with pytest.raises(ConfigError) as refused:
        get_kind("repository").validate(config)
    assert refused.value.field == field
