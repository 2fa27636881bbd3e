"""The catalog as code: export, import (all or nothing, idempotent by code), and the command."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command

from audit.actors import Actor
from audit.models import AuditEvent
from checks.catalog import CatalogInvalid, export_catalog, import_catalog
from checks.models import Category, Check, ReviewBaseline
from core.errors import Denied

from ..conftest import as_actor
from ..factories import EnvironmentFactory, ProjectFactory
from .conftest import subprocess_env

OPERATOR = Actor.of_system("test")

CATALOG = textwrap.dedent(
    """\
    version: 1
    project: shop
    categories:
    - {key: deploy, name: Deployment, weight: 60}
    - {key: data, name: Data, weight: 40}
    checks:
    - code: DS-001
      title: Deploy script exists
      category: deploy
      section: Scripts
      severity: critical
      phase: pre-deploy-week
      checklist: true
      kind: repository
      impact: Without it nothing deploys.
      action: Create and test deploy.sh
      config: {rule: file_exists, path: "demo/{version}", files: [deploy.sh]}
    - code: HC-001
      title: Health endpoint answers
      category: deploy
      severity: high
      kind: http
      environments: [production, staging]
      config: {url: "{base_url}/health/", json: {status: ok}, latency_budget_ms: 500}
    - code: DB-001
      title: WAL archiving works
      category: data
      severity: high
      kind: postgres
      config: {dsn_env: SHOP_DATABASE_URL, max_archive_age_minutes: 30}
    - code: DB-002
      title: Backups are restorable
      category: data
      severity: medium
      phase: pre-deploy-day
      kind: backup
      config: {database: main}
    - code: CI-001
      title: Tests pass
      category: deploy
      severity: critical
      kind: ci
    - code: POST-01
      title: Smoke test by hand
      category: deploy
      severity: low
      phase: post
      checklist: true
      kind: manual
      config: {instructions: Buy one bottle.}
    """
)


@pytest.fixture
def shop(db):  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="shop")
    for position, slug in enumerate(("staging", "production")):
        EnvironmentFactory(project=project, slug=slug, position=position)
    return project


def test_an_import_creates_categories_and_checks(shop):
    summary = import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    assert summary.created == ["DS-001", "HC-001", "DB-001", "DB-002", "CI-001", "POST-01"]
    assert list(Category.objects.filter(project=shop).values_list("key", "weight")) == [
        ("deploy", 60),
        ("data", 40),
    ]
    health = Check.objects.get(project=shop, code="HC-001")
    assert sorted(e.slug for e in health.environments.all()) == ["production", "staging"]
    # Validated configs are stored with their defaults, so a run never guesses.
    assert health.config["timeout_seconds"] == 10
    assert health.config["expected_status"] == 200
    assert Check.objects.get(project=shop, code="DS-001").in_checklist


def test_export_then_import_round_trips(shop):
    import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    exported = export_catalog(shop)

    other = ProjectFactory(slug="copy")
    for position, slug in enumerate(("staging", "production")):
        EnvironmentFactory(project=other, slug=slug, position=position)
    import_catalog(
        actor=OPERATOR,
        project=other,
        text=exported.replace("project: shop", "project: copy"),
        check_access=False,
    )
    assert export_catalog(other).replace("copy", "shop") == exported

    fields = (
        "code",
        "title",
        "impact",
        "action",
        "section",
        "severity",
        "phase",
        "kind",
        "config",
        "in_checklist",
    )
    assert list(Check.objects.filter(project=other).values_list(*fields)) == list(
        Check.objects.filter(project=shop).values_list(*fields)
    )


def test_a_check_carries_the_review_action_wording_and_may_leave_it_out(shop):
    import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    assert Check.objects.get(project=shop, code="DS-001").action == "Create and test deploy.sh"
    assert Check.objects.get(project=shop, code="HC-001").action == ""
    exported = yaml.safe_load(export_catalog(shop))["checks"]
    assert [c.get("action") for c in exported[:2]] == ["Create and test deploy.sh", None]

    changed = CATALOG.replace("action: Create and test deploy.sh", "action: Write deploy.sh")
    summary = import_catalog(actor=OPERATOR, project=shop, text=changed, check_access=False)
    assert summary.updated == ["DS-001"]
    assert Check.objects.get(project=shop, code="DS-001").action == "Write deploy.sh"


@pytest.mark.parametrize("action", ["[a list]", "x" * 201])
def test_an_action_that_is_not_short_text_is_refused(shop, action):
    text = CATALOG.replace("Create and test deploy.sh", action)
    with pytest.raises(CatalogInvalid) as caught:
        import_catalog(actor=OPERATOR, project=shop, text=text, check_access=False)
    assert caught.value.errors == [
        "checks[0] (DS-001) field action: must be text of at most 200 characters"
    ]


def test_importing_the_same_file_again_changes_nothing(shop):
    import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    ids = dict(Check.objects.filter(project=shop).values_list("code", "pk"))
    events = AuditEvent.objects.count()

    summary = import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    assert not summary.changed
    assert len(summary.unchanged) == 6
    again = import_catalog(
        actor=OPERATOR, project=shop, text=export_catalog(shop), check_access=False
    )
    assert not again.changed
    assert dict(Check.objects.filter(project=shop).values_list("code", "pk")) == ids
    assert AuditEvent.objects.count() == events


def test_checks_are_matched_by_code(shop):
    import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    before = Check.objects.get(project=shop, code="CI-001")
    changed = CATALOG.replace("title: Tests pass", "title: The test suite passes").replace(
        "  environments: [production, staging]\n", ""
    )
    summary = import_catalog(actor=OPERATOR, project=shop, text=changed, check_access=False)
    assert sorted(summary.updated) == ["CI-001", "HC-001"]
    after = Check.objects.get(project=shop, code="CI-001")
    assert (after.pk, after.title) == (before.pk, "The test suite passes")
    assert not Check.objects.get(project=shop, code="HC-001").environments.exists()
    event = AuditEvent.objects.filter(action="catalog.imported").latest("seq")
    assert event.after["updated"] == ["HC-001", "CI-001"]


def test_a_check_left_out_is_deactivated_not_deleted(shop):
    import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    shorter = CATALOG.split("- code: POST-01")[0]
    summary = import_catalog(actor=OPERATOR, project=shop, text=shorter, check_access=False)
    assert summary.deactivated == ["POST-01"]
    assert not Check.objects.get(project=shop, code="POST-01").is_active
    assert "POST-01" not in export_catalog(shop)
    back = import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    assert back.updated == ["POST-01"]
    assert Check.objects.get(project=shop, code="POST-01").is_active


BROKEN = textwrap.dedent(
    """\
    categories:
    - {key: deploy, name: Deployment, weight: 60}
    - {key: Data, name: Data, weight: 30}
    checks:
    - code: OK-001
      title: A good check
      category: deploy
      severity: low
      kind: manual
    - code: ds-2
      title: Bad code
      category: deploy
      severity: urgent
      kind: manual
      colour: red
    - code: HC-001
      title: Secret in the catalog
      category: nowhere
      severity: high
      kind: http
      environments: [qa]
      config: {url: "http://x/", headers: {Authorization: "Bearer hunter2"}}
    - code: OK-001
      title: Duplicate
      category: deploy
      severity: low
      kind: teleport
    """
)


def test_an_invalid_file_is_refused_whole_naming_entry_and_field(shop):
    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(actor=OPERATOR, project=shop, text=BROKEN, check_access=False)
    errors = refused.value.errors
    expected = [
        "categories[1] (Data) field key:",
        "categories: the weights sum to 90",
        "checks[1] (ds-2) field code:",
        "checks[1] (ds-2) field severity:",
        "checks[1] (ds-2) field colour: unknown field",
        "checks[2] (HC-001) field category:",
        "checks[2] (HC-001) field environments: no environment 'qa'",
        "checks[2] (HC-001) field config.headers.Authorization:",
        "checks[3] (OK-001) field code: duplicate code",
        "checks[3] (OK-001) field kind:",
    ]
    for start in expected:
        assert any(e.startswith(start) for e in errors), (start, errors)
    assert len(errors) == len(expected)
    # Nothing at all was written, not even the good entries.
    assert not Category.objects.filter(project=shop).exists()
    assert not Check.objects.filter(project=shop).exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checks: [", "not valid YAML"),
        ("- a list", "must be a mapping"),
        ("version: 2\ncategories: [{key: a, name: A, weight: 100}]", "version:"),
        ("project: other\ncategories: [{key: a, name: A, weight: 100}]", "project:"),
        ("categories: []", "categories:"),
    ],
)
def test_malformed_files_are_refused_with_a_message(shop, text, message):
    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(actor=OPERATOR, project=shop, text=text, check_access=False)
    assert any(message in e for e in refused.value.errors)


def test_importing_needs_the_manage_permission(db, project, deployer, admin):
    text = CATALOG.replace("project: shop\n", "").replace(
        "environments: [production, staging]", "environments: [production]"
    )
    EnvironmentFactory(project=project, slug="production")
    with pytest.raises(Denied):
        import_catalog(actor=as_actor(deployer), project=project, text=text)
    assert AuditEvent.objects.filter(action="catalog.imported", outcome="denied").exists()
    import_catalog(actor=as_actor(admin), project=project, text=text)
    assert Check.objects.filter(project=project).count() == 6


def test_the_command_exports_and_imports(shop, tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    out = StringIO()
    call_command("catalog", "import", "shop", str(path), stdout=out)
    assert "6 created, 0 updated, 0 unchanged, 0 deactivated" in out.getvalue()

    exported = StringIO()
    call_command("catalog", "export", "shop", stdout=exported)
    assert yaml.safe_load(exported.getvalue())["checks"][0]["code"] == "DS-001"

    path.write_text(exported.getvalue())
    again = StringIO()
    call_command("catalog", "import", "shop", str(path), stdout=again)
    assert "0 created, 0 updated, 6 unchanged" in again.getvalue()


def test_the_command_refuses_an_invalid_file_and_lists_its_problems(shop, tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text(BROKEN)
    err = StringIO()
    with pytest.raises(CommandError, match="10 problem"):
        call_command("catalog", "import", "shop", str(path), stderr=err)
    assert "checks[1] (ds-2) field severity" in err.getvalue()
    assert not Check.objects.filter(project=shop).exists()
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("catalog", "export", "nope")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("catalog", "import", "shop", str(tmp_path / "missing.yml"))


@pytest.mark.django_db(transaction=True)
def test_the_command_works_as_a_process(tmp_path):
    project = ProjectFactory(slug="shop")
    for position, slug in enumerate(("staging", "production")):
        EnvironmentFactory(project=project, slug=slug, position=position)
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "catalog"]
    env = subprocess_env()
    imported = subprocess.run(
        [*manage, "import", "shop", str(path)], env=env, capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    assert Check.objects.filter(project=project).count() == 6


def test_a_category_left_out_whose_past_results_remain_is_kept_at_weight_0(shop):
    from checks.models import CheckResult

    from ..factories import ReleaseFactory, RunFactory

    import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False)
    run = RunFactory(release=ReleaseFactory(project=shop), environment=shop.environments.first())
    check = Check.objects.get(project=shop, code="DB-001")
    CheckResult.objects.create(
        run=run, check_item=check, category=check.category, severity="high", status="fail"
    )
    # Every check of "data" moves to "deploy" and "data" leaves the file.
    moved = (
        CATALOG.replace("category: data", "category: deploy")
        .replace(
            "- {key: deploy, name: Deployment, weight: 60}",
            "- {key: deploy, name: Deployment, weight: 100}",
        )
        .replace("- {key: data, name: Data, weight: 40}\n", "")
    )
    summary = import_catalog(actor=OPERATOR, project=shop, text=moved, check_access=False)
    assert "data" in summary.categories_changed
    data = Category.objects.get(project=shop, key="data")  # the finished run still points at it
    assert data.weight == 0
    assert not data.checks.exists()


def _with_ci_config(config: str) -> str:
    with_config = CATALOG.replace(
        "  severity: critical\n  kind: ci\n",
        f"  severity: critical\n  kind: ci\n  config: {config}\n",
    )
    assert with_config != CATALOG
    return with_config


def test_a_ci_check_may_name_the_services_it_accepts(shop):
    import_catalog(
        actor=OPERATOR,
        project=shop,
        text=_with_ci_config("{services: [github-actions, nightly build]}"),
        check_access=False,
    )
    tests_pass = Check.objects.get(project=shop, code="CI-001")
    assert tests_pass.config == {"services": ["github-actions", "nightly build"]}
    assert "services:" in export_catalog(shop)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{services: []}", "must be a string or a list of strings"),
        ("{services: [github-actions, 7]}", "must be a string or a list of strings"),
        ("{services: [a, a]}", "names a service twice"),
        ("{services: [' padded ']}", "no surrounding spaces"),
        ("{pipelines: [a]}", "unknown setting"),
    ],
)
def test_a_bad_services_list_is_refused_at_import(shop, config, message):
    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(
            actor=OPERATOR, project=shop, text=_with_ci_config(config), check_access=False
        )
    assert any(
        e.startswith("checks[4] (CI-001) field config.") and message in e
        for e in refused.value.errors
    ), refused.value.errors
    assert not Check.objects.filter(project=shop).exists()


REVIEW = """\
review:
  date: 2026-01-05
  score: 54.5
  title: Deployment Readiness Review
  categories: {deploy: 60, data: 55}
"""


def test_a_catalog_may_carry_the_review_figures_and_round_trips_them(shop):
    summary = import_catalog(
        actor=OPERATOR, project=shop, text=CATALOG + REVIEW, check_access=False
    )
    assert summary.review_changed
    review = ReviewBaseline.objects.get(project=shop)
    assert (str(review.score), review.date.isoformat()) == ("54.5", "2026-01-05")
    assert review.categories == {"deploy": "60.0", "data": "55.0"}
    exported = export_catalog(shop)
    assert yaml.safe_load(exported)["review"]["score"] == 54.5
    again = import_catalog(actor=OPERATOR, project=shop, text=exported, check_access=False)
    assert not again.changed
    # A file without a review removes it.
    assert import_catalog(actor=OPERATOR, project=shop, text=CATALOG, check_access=False).changed
    assert not ReviewBaseline.objects.filter(project=shop).exists()


def test_bad_review_figures_are_refused_naming_the_field(shop):
    text = CATALOG + "review: {date: soon, score: 140, categories: {nope: 1}}\n"
    with pytest.raises(CatalogInvalid) as caught:
        import_catalog(actor=OPERATOR, project=shop, text=text, check_access=False)
    assert caught.value.errors == [
        "review field date: give the review's date, e.g. 2026-01-05",
        "review field score: must be a number from 0 to 100",
        "review field categories.nope: no such category in the catalog",
    ]


def test_a_manual_check_says_why_a_person_judges_it_and_the_reason_round_trips(shop):
    text = CATALOG.replace(
        "  config: {instructions: Buy one bottle.}\n",
        "  config: {instructions: Buy one bottle.}\n"
        "  manual_reason: >-\n"
        "    Only a person at the till can tell\n"
        "    that the sale went through.\n",
    )
    import_catalog(actor=OPERATOR, project=shop, text=text, check_access=False)
    check = Check.objects.get(project=shop, code="POST-01")
    assert check.manual_reason == "Only a person at the till can tell that the sale went through."
    exported = yaml.safe_load(export_catalog(shop))
    entry = next(c for c in exported["checks"] if c["code"] == "POST-01")
    assert entry["manual_reason"] == check.manual_reason
    # Checks without a reason export none.
    assert all("manual_reason" not in c for c in exported["checks"] if c["code"] != "POST-01")


def test_a_reason_for_judging_by_hand_is_refused_on_an_automated_check(shop):
    text = CATALOG.replace("  kind: ci\n", "  kind: ci\n  manual_reason: A person reads the log.\n")
    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(actor=OPERATOR, project=shop, text=text, check_access=False)
    assert refused.value.errors == [
        "checks[4] (CI-001) field manual_reason: only a manual check says why a person must judge it"
    ]
