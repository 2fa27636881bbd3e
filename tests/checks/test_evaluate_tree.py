"""`manage.py evaluate_tree PATH [--catalog FILE]`, run as a team runs it before pushing: a
subprocess, with no database it could reach (the command needs none). Refusals of bad input are
the same in process, where they are cheaper to try."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "liquor-pos"


def evaluate_tree(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "preflight.settings.test",
        # Nothing listens on port 1: any query or cache call would fail the command.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "evaluate_tree", *map(str, arguments)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def catalog(path: Path, checks: list[dict], **top: object) -> Path:  # type: ignore[type-arg]
    document = {
        "version": 1,
        "project": "shop",
        "categories": [{"key": "deployment", "name": "Deployment", "weight": 100}],
        **top,
        "checks": checks,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def repository_check(code: str, **config: object) -> dict:  # type: ignore[type-arg]
    return {
        "code": code,
        "title": f"Check {code}",
        "category": "deployment",
        "severity": "high",
        "kind": "repository",
        "config": {"path": "checkouts/{project}/{git_sha}", **config},
    }


def test_the_demo_catalog_on_the_review_tree_lists_findings_and_fails():
    result = evaluate_tree(DEMO / "1.0.0")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "repository checks of" in out
    assert "liquor-pos.catalog.yml" in out
    assert "FAIL  DS-004  Hardcoded wait times (sleep 5, 15)" in out
    assert "        deploy.sh:16: sleep 5 (5 s)\n        deploy.sh:19: sleep 15 (15 s)\n" in out
    assert "        backend/prisma/migrations/20250915_products/migration.sql: no rollback" in out
    assert "FAIL  CI-001  No CI/CD pipeline exists" in out
    assert "PASS  MG-S1" in out
    # DS-005 reads git history, which a working tree has not: a run judges it.
    assert "SKIPPED DS-005  No deployment versioning/tagging" in out
    assert out.rstrip().splitlines()[-1] == "23 checks: 17 fail, 5 pass, 1 skipped."
    assert "Traceback" not in result.stderr


def test_a_catalog_file_on_a_passing_tree_exits_zero(tmp_path):
    tree = tmp_path / "shop"
    (tree / "scripts").mkdir(parents=True)
    (tree / "scripts" / "deploy.sh").write_text(
        "#!/bin/sh\nuntil curl -fs localhost/health; do sleep 5; done\n"
    )
    file = catalog(
        tmp_path / "shop.catalog.yml",
        [
            repository_check("DS-004", rule="no_fixed_sleeps"),
            repository_check("DS-001", rule="file_exists", files=["scripts/deploy.sh"]),
            {
                "code": "CI-002",
                "title": "Tests",
                "category": "deployment",
                "severity": "high",
                "kind": "ci",
            },
        ],
    )
    result = evaluate_tree(tree, "--catalog", file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 repository checks of" in result.stdout
    assert "(1 checks of other kinds need a run)" in result.stdout
    assert (
        "PASS  DS-004  Check DS-004\n      No fixed sleeps of 5 s or more in 1 scripts."
        in result.stdout
    )
    assert result.stdout.rstrip().endswith("2 checks: 2 pass.")


def test_a_warning_alone_does_not_fail_the_command(tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "deploy.sh").write_text("if true; then\n  sleep 30\n")
    file = catalog(tmp_path / "c.yml", [repository_check("DS-004", rule="no_fixed_sleeps")])
    result = evaluate_tree(tmp_path / "tree", "--catalog", file)
    assert result.returncode == 0
    assert "WARN  DS-004" in result.stdout
    assert "deploy.sh:" in result.stdout


def test_with_a_repository_a_checks_path_is_inside_the_tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "backend" / "migrations" / "0001_init").mkdir(parents=True)
    (tree / "backend" / "migrations" / "0001_init" / "migration.sql").write_text(
        "CREATE TABLE t (id int);\n"
    )
    checks = [
        {
            **repository_check("MG-001", rule="migrations_have_rollback"),
            "config": {"rule": "migrations_have_rollback", "path": "backend"},
        },
        {
            **repository_check("MG-002", rule="file_exists"),
            "config": {"rule": "file_exists", "path": "frontend", "files": ["x"]},
        },
    ]
    file = catalog(
        tmp_path / "c.yml", checks, repository={"url": "https://git.example.com/shop.git"}
    )
    result = evaluate_tree(tree, "--catalog", file)
    assert result.returncode == 1
    assert "        migrations/0001_init/migration.sql: no rollback" in result.stdout
    assert "ERROR MG-002  Check MG-002\n      No directory frontend in the tree." in result.stdout


def test_a_bad_path_is_one_clear_error():
    with pytest.raises(CommandError, match=r"^No directory at /no/such/tree\.$"):
        call_command("evaluate_tree", "/no/such/tree", stdout=StringIO())


def test_a_missing_catalog_file_is_one_clear_error():
    with pytest.raises(CommandError, match=r"Cannot read the catalog /no/such\.yml: No such file"):
        call_command("evaluate_tree", ".", catalog="/no/such.yml", stdout=StringIO())


def test_an_invalid_catalog_names_every_problem(tmp_path):
    checks = [
        repository_check("DS-001", rule="file_exist", files=["deploy.ps1"]),
        repository_check("DS-004", rule="no_fixed_sleeps", min_seconds=-3),
        repository_check("DS-005", rule="ci_workflow_exists"),
    ]
    stderr = StringIO()
    with pytest.raises(CommandError, match=r"c\.yml: 2 problem\(s\)\.$"):
        call_command(
            "evaluate_tree",
            ".",
            catalog=catalog(tmp_path / "c.yml", checks),
            stdout=StringIO(),
            stderr=stderr,
        )
    assert "DS-001 field config.rule: unknown rule" in stderr.getvalue()
    assert "DS-004 field config.min_seconds: must be between 0 and 3600" in stderr.getvalue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checks: [unclosed", "not valid YAML"),
        ("- just a list\n", "a catalog is a mapping with a list of 'checks'"),
        ("checks:\n  - {code: X-1, kind: manual}\n", "the catalog has no repository checks"),
    ],
)
def test_a_catalog_that_cannot_be_used_says_why(tmp_path, text, message):
    (tmp_path / "c.yml").write_text(text)
    stderr = StringIO()
    with pytest.raises(CommandError, match=r"c\.yml: 1 problem"):
        call_command(
            "evaluate_tree", ".", catalog=tmp_path / "c.yml", stdout=StringIO(), stderr=stderr
        )
    assert message in stderr.getvalue()
