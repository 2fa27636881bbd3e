"""The preflight kind: gaps about the release process judged from Preflight's own records.

Each probe gets a passing and a failing case built the way the records are really made: releases
deployed through the deployment services (with readiness runs, approvals and post-deploy
verification), rollbacks through the rollback service, backups reported or taken, restore drills
run against a real PostgreSQL, webhooks delivered to a local HTTP server."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.actors import Actor
from backups import pg
from backups.models import Backup, Database, RestoreDrill
from backups.services.drills import drill_execute, drill_request
from backups.services.reports import backup_report
from backups.services.taking import backup_request, backup_take_now
from checks.catalog import CatalogInvalid, import_catalog
from checks.kinds import CheckContext, ConfigError, Outcome, get_kind
from checks.kinds.http import validate as http_config
from checks.kinds.preflight import evaluate
from checks.models import ReadinessRun
from checks.services.approvals import approval_record
from checks.services.deployments import deployment_finish, deployment_rollback, deployment_start
from checks.services.runs import run_execute, run_start
from releases import webhooks
from releases.models import Deployment, Environment, Release, Webhook, WebhookDelivery
from releases.services.locks import lock_release
from releases.services.projects import environment_update
from tests.backups.conftest import SCHEMA, server_dsn
from tests.backups.helpers import local_s3

from ..conftest import as_actor
from ..factories import (
    CategoryFactory,
    CheckFactory,
    DeploymentFactory,
    ReleaseFactory,
    ResultFactory,
    RunFactory,
)
from .conftest import context

pytestmark = pytest.mark.django_db

NIGHTLY = Actor.of_system("nightly-backup")


def context_of(config: dict[str, Any], environment: Environment) -> CheckContext:
    """The context a run of the project's latest release in ``environment`` gives a preflight
    check, its config validated as an import validates it."""
    release = Release.objects.filter(project_id=environment.project_id).order_by("-pk").first()
    return context(
        "preflight",
        config,
        project_slug=environment.project.slug,
        release_id=release.pk if release else 0,
        environment_id=environment.pk,
        environment_slug=environment.slug,
    )


def judge(config: dict[str, Any], environment: Environment) -> Outcome:
    return evaluate(context_of(config, environment))


def aged(deployment: Deployment, days: float) -> Deployment:
    """The deployment as if it had happened ``days`` earlier."""
    shift = timedelta(days=days)
    Deployment.objects.filter(pk=deployment.pk).update(
        started_at=F("started_at") - shift,
        finished_at=F("finished_at") - shift,
        verified_at=F("verified_at") - shift,
    )
    deployment.refresh_from_db()
    return deployment


@pytest.fixture
def production(environments):  # type: ignore[no-untyped-def]
    return environments["production"]


@pytest.fixture
def staging(environments):  # type: ignore[no-untyped-def]
    return environments["staging"]


@pytest.fixture
def development(environments):  # type: ignore[no-untyped-def]
    return environments["development"]


@pytest.fixture
def readiness_check(project):  # type: ignore[no-untyped-def]
    category = CategoryFactory(project=project, key="all", weight=100)
    return CheckFactory(project=project, category=category, code="OK-001")


@pytest.fixture
def smoke_test(project, readiness_check, http_server):  # type: ignore[no-untyped-def]
    """A post-deploy check that passes: every deployment is verified by a real run."""
    return CheckFactory(
        project=project,
        category=readiness_check.category,
        code="POST-01",
        phase="post",
        kind="http",
        config=http_config({"url": http_server.url("/ok")}),
    )


Ship = Callable[..., Deployment]


@pytest.fixture
def ship(  # type: ignore[no-untyped-def]
    environments, readiness_check, approver, approver2, deployer, django_capture_on_commit_callbacks
) -> Ship:
    """Deploy a release the way a team does: a passing readiness run, the approvals the
    environment requires, start and finish through the services, then post-deploy verification
    (a verification run executed as the worker would)."""

    def verify(deployment: Deployment) -> Deployment:
        run = ReadinessRun.objects.filter(deployment=deployment).first()
        if run is not None:
            with django_capture_on_commit_callbacks(execute=True):
                run_execute(run.pk)
        deployment.refresh_from_db()
        return deployment

    def ship(release: Release, slug: str, *, status: str = "succeeded") -> Deployment:
        environment = environments[slug]
        run = RunFactory(release=release, environment=environment, score=Decimal(100))
        ResultFactory(run=run, check_item=readiness_check, status="pass")
        for person in (approver, approver2)[: environment.required_approvals]:
            approval_record(
                actor=as_actor(person), release=release, environment=environment, decision="approve"
            )
        with django_capture_on_commit_callbacks(execute=True):
            deployment = deployment_start(
                actor=as_actor(deployer), release=release, environment=environment
            )
            deployment_finish(actor=as_actor(deployer), deployment=deployment, status=status)
        return verify(deployment)

    ship.verify = verify  # type: ignore[attr-defined]
    return ship


def promote(ship: Ship, release: Release, *slugs: str) -> list[Deployment]:
    return [ship(release, slug) for slug in slugs]


@pytest.fixture
def break_glass(environments, admin, deployer, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """An admin deploying with the gate closed (the release has no readiness run there)."""

    def break_glass(release: Release, slug: str) -> Deployment:
        with django_capture_on_commit_callbacks(execute=True):
            deployment = deployment_start(
                actor=as_actor(admin),
                release=release,
                environment=environments[slug],
                override_reason="Card payments down in every store; hotfix now.",
            )
            deployment_finish(actor=as_actor(deployer), deployment=deployment, status="succeeded")
        deployment.refresh_from_db()
        assert deployment.is_override
        return deployment

    return break_glass


@pytest.fixture
def rehearse(ship, admin, deployer, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Roll a deployment back through the service, let it succeed and be verified, and unlock."""

    def rehearse(deployment: Deployment) -> Deployment:
        with django_capture_on_commit_callbacks(execute=True):
            rollback = deployment_rollback(
                actor=as_actor(deployer), deployment=deployment, reason="Rehearsing a rollback."
            )
            deployment_finish(actor=as_actor(deployer), deployment=rollback, status="succeeded")
        rollback = ship.verify(rollback)
        lock_release(actor=as_actor(admin), environment=deployment.environment)
        return rollback

    return rehearse


def release_of(project, version: str, deployer) -> Release:  # type: ignore[no-untyped-def]
    return ReleaseFactory(project=project, version=version, created_by=deployer)


# --- approvals_required (CI-003) --------------------------------------------------------------


def test_approvals_required_passes_naming_who_may_approve(production, release, approver, approver2):
    outcome = judge({"probe": "approvals_required"}, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail == (
        "Production requires 2 approvals (at least 1 expected), from 2 people who may approve "
        "besides the release's creator: ana and ben."
    )
    assert outcome.data["approvers"] == ["ana", "ben"]


def test_approvals_required_fails_where_nobody_reviews_and_passes_once_set(
    production, development, release, approver, admin
):
    config = {"probe": "approvals_required", "environment": "development"}
    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "Development requires 0 approvals (at least 1 expected): anyone who may deploy can "
        "deploy without a review. Set required approvals of Development to 1 or more"
    )
    environment_update(actor=as_actor(admin), environment=development, required_approvals=1)
    assert judge(config, production).status == "pass"


def test_approvals_required_counts_everyone_for_a_release_a_pipeline_registered(
    project, production, approver, approver2
):
    ReleaseFactory(project=project, version="2.0.0", created_by=None)
    outcome = judge({"probe": "approvals_required"}, production)
    assert outcome.status == "pass"
    assert outcome.data["approvers"] == ["ana", "ben"]


def test_approvals_required_fails_below_the_minimum_asked(production, release, approver, approver2):
    outcome = judge({"probe": "approvals_required", "min_approvals": 3}, production)
    assert outcome.status == "fail"
    assert "requires 2 approvals (at least 3 expected)" in outcome.detail


def test_approvals_required_warns_when_too_few_people_may_approve(
    project, production, approver, approver2
):
    # ben created this release, so under four eyes only ana can approve it: two are required.
    ReleaseFactory(project=project, version="2.0.0", created_by=approver2)
    outcome = judge({"probe": "approvals_required"}, production)
    assert outcome.status == "warn"
    assert "only 1 person besides the release's creator may approve (ana)" in outcome.detail
    assert "the gate cannot open" in outcome.detail


# --- webhook_subscribed (DS-009, BK-002) -----------------------------------------------------


def deliver_all(webhook: Webhook) -> None:
    """Send every pending delivery of the webhook, retrying as the task does until it is final."""
    for delivery in WebhookDelivery.objects.filter(webhook=webhook, status="pending"):
        for _ in range(webhooks.MAX_ATTEMPTS):
            try:
                webhooks.deliver(delivery.pk)
                break
            except webhooks.DeliveryFailed:
                continue


def test_webhook_subscribed_fails_for_events_nobody_receives(project, production):
    outcome = judge({"probe": "webhook_subscribed"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "No active webhook receives deployment.finished, deployment.verification_failed, "
        "rollback.started and override.used: nobody is told when they happen."
    )
    chat = Webhook.objects.create(
        project=project, name="chat", url="https://chat.example.com/hooks/T0/B0/SECRET",
        events=["deployment.finished"],
    )  # fmt: skip
    off = Webhook.objects.create(
        project=project, name="pager", url="https://pager.example.net/x", is_active=False
    )
    outcome = judge({"probe": "webhook_subscribed"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "No active webhook receives deployment.verification_failed, rollback.started and "
        f"override.used: nobody is told when they happen. Webhook #{chat.pk} “chat” "
        f"(chat.example.com) receives only deployment.finished. Webhook #{off.pk} “pager” "
        "(pager.example.net) would receive them but is switched off."
    )
    assert "SECRET" not in outcome.detail  # a webhook's path often is its secret


def test_webhook_subscribed_passes_naming_the_webhook_and_its_deliveries(
    project, production, development, release, ship, http_server
):
    hook = Webhook.objects.create(project=project, name="team", url=http_server.url("/ok"))
    ship(release, "development")
    deliver_all(hook)

    outcome = judge({"probe": "webhook_subscribed"}, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith(
        "deployment.finished, deployment.verification_failed, rollback.started and "
        f"override.used go to webhook #{hook.pk} “team” (127.0.0.1); in the last 30 days "
    )
    assert outcome.data["delivered"] >= 1
    assert outcome.data["failed"] == 0


def test_webhook_subscribed_warns_when_every_delivery_failed(
    project, production, release, ship, http_server
):
    hook = Webhook.objects.create(
        project=project, name="team", url=http_server.url("/status/500"), events=["backup.failed"]
    )
    Database.objects.create(project=project, name="main")
    backup_report(
        actor=NIGHTLY, project=project, database="main", started_at=timezone.now(), status="failed"
    )
    deliver_all(hook)
    assert WebhookDelivery.objects.get(webhook=hook).status == "failed"

    outcome = judge({"probe": "webhook_subscribed", "events": ["backup.failed"]}, production)
    assert outcome.status == "warn"
    assert (
        f"but every delivery in the last 30 days to webhook #{hook.pk} “team” (127.0.0.1) "
        "failed (1 failure): nobody heard of backup.failed" in outcome.detail
    )
    # Out of the window the failure no longer speaks against the webhook.
    WebhookDelivery.objects.filter(webhook=hook).update(
        created_at=timezone.now() - timedelta(days=8)
    )
    config = {"probe": "webhook_subscribed", "events": "backup.failed", "within_days": 7}
    assert judge(config, production).status == "pass"


# --- deployments_gated (DS-010) --------------------------------------------------------------


def test_deployments_gated_is_pending_without_deployments(production):
    outcome = judge({"probe": "deployments_gated"}, production)
    assert outcome.status == "pending"
    assert outcome.detail.startswith("No deployment to Production in the last 30 days")


def test_deployments_gated_passes_when_every_deployment_went_through_the_gate(
    release, production, development, ship
):
    deployment = ship(release, "development")
    outcome = judge({"probe": "deployments_gated", "environment": "development"}, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail == (
        "The only deployment to Development in the last 30 days went through Preflight's gate "
        f"and lock (the latest: #{deployment.pk})."
    )


def test_deployments_gated_fails_for_break_glass_and_records_made_after_the_fact(
    project, release, production, development, ship, break_glass, deployer
):
    ship(release, "development")
    hotfix = break_glass(release_of(project, "1.0.1", deployer), "development")
    imported = DeploymentFactory(
        release=release_of(project, "0.9.0", deployer),
        environment=development,
        started_at=timezone.now() - timedelta(days=3),
        recorded_after_the_fact=True,
    )

    config = {"probe": "deployments_gated", "environment": "development"}
    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "2 of 3 deployments to Development in the last 30 days did not go through Preflight's "
        f"gate and lock: #{hotfix.pk} (1.0.1, break glass: “Card payments down in every store; "
        f"hotfix now.”) and #{imported.pk} (0.9.0, recorded after the fact). Deploy through "
        "Preflight"
    )
    assert outcome.data["bypassed"] == [hotfix.pk, imported.pk]

    # The window: a month and a half ago they no longer count, unless the window reaches them.
    aged(hotfix, 45)
    aged(imported, 45)
    assert judge(config, production).status == "pass"
    assert judge({**config, "within_days": 60}, production).status == "fail"


# --- auto_rollback_enabled (DS-011) ----------------------------------------------------------


def test_auto_rollback_fails_when_off_warns_without_smoke_tests_and_passes_with_them(
    project, staging, admin, readiness_check, http_server
):
    config = {"probe": "auto_rollback_enabled"}
    outcome = judge(config, staging)
    assert outcome.status == "fail"
    assert outcome.detail.startswith("Staging does not roll back by itself")

    environment_update(actor=as_actor(admin), environment=staging, auto_rollback=True)
    outcome = judge(config, staging)
    assert outcome.status == "warn"
    assert "no automated post-deploy check applies to it" in outcome.detail

    CheckFactory(
        project=project, category=readiness_check.category, code="POST-01", phase="post",
        kind="http", config=http_config({"url": http_server.url("/ok")}),
    )  # fmt: skip
    outcome = judge(config, staging)
    assert outcome.status == "pass"
    assert outcome.detail == (
        "Staging rolls back automatically when post-deploy verification fails; 1 post-deploy "
        "check can fail it: POST-01."
    )


# --- rollback_rehearsed (RB-001, RB-002) -----------------------------------------------------


def test_rollback_rehearsed_fails_when_no_rollback_was_ever_made(production, staging):
    outcome = judge({"probe": "rollback_rehearsed"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "No rollback in Staging succeeded and was verified in the last 30 days: no rollback "
        "was ever recorded in Staging. Rehearse one before Production"
    )


@pytest.fixture
def staged(project, release, deployer, ship):  # type: ignore[no-untyped-def]
    """0.9.0 then 1.0.0 went through development and staging; returns 1.0.0 in staging."""
    promote(ship, release_of(project, "0.9.0", deployer), "development", "staging")
    return promote(ship, release, "development", "staging")[-1]


def test_rollback_rehearsed_passes_with_a_verified_rollback_in_the_previous_environment(
    production, smoke_test, staged, rehearse
):
    rollback = rehearse(staged)
    assert rollback.status == "verified"
    run = ReadinessRun.objects.get(deployment=rollback)

    outcome = judge({"probe": "rollback_rehearsed"}, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith(
        f"Rollback #{rollback.pk} in Staging (from 1.0.0, #{staged.pk}, back to 0.9.0) succeeded "
        f"and was verified by verification run #{run.pk} "
    )
    # Older than the window, it no longer counts.
    aged(rollback, 31)
    outcome = judge({"probe": "rollback_rehearsed"}, production)
    assert outcome.status == "fail"
    assert f"the latest, #{rollback.pk} (back to 0.9.0), was verified 1\xa0month ago" in (
        outcome.detail
    )
    assert judge({"probe": "rollback_rehearsed", "within_days": 45}, production).status == "pass"


def test_rollback_rehearsed_warns_when_nothing_tested_the_rollback(production, staged, rehearse):
    rollback = rehearse(staged)  # no post-deploy check: verified without a test
    outcome = judge({"probe": "rollback_rehearsed"}, production)
    assert outcome.status == "warn"
    assert f"Rollback #{rollback.pk} in Staging" in outcome.detail
    assert "but no post-deploy check applied to Staging" in outcome.detail


def test_rollback_rehearsed_ignores_rollbacks_recorded_after_the_fact(production, staging, staged):
    imported = DeploymentFactory(
        release=staged.release, environment=staging, rollback_of=staged,
        status="verified", verified_at=timezone.now(), recorded_after_the_fact=True,
    )  # fmt: skip
    outcome = judge({"probe": "rollback_rehearsed"}, production)
    assert outcome.status == "fail"
    assert f"#{imported.pk} (back to 1.0.0), was recorded after the fact" in outcome.detail


def test_rollback_rehearsed_needs_an_environment_before_the_judged_one(production, development):
    outcome = judge({"probe": "rollback_rehearsed", "environment": "development"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith("Development is the first environment of shop")


# --- promotion_order (DS-008) ----------------------------------------------------------------


def test_promotion_order_passes_when_releases_went_through_staging_first(release, production, ship):
    promote(ship, release, "development", "staging", "production")
    outcome = judge({"probe": "promotion_order"}, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail == (
        "Production requires a release to succeed in Staging first, and the deployment to it "
        "in the last 30 days had succeeded there before."
    )


def test_promotion_order_fails_for_a_release_that_skipped_staging(
    project, release, production, ship, break_glass, deployer
):
    promote(ship, release, "development", "staging", "production")
    skipped = break_glass(release_of(project, "1.0.1", deployer), "production")

    outcome = judge({"probe": "promotion_order"}, production)
    assert outcome.status == "fail"
    assert outcome.detail == (
        "1 of 2 deployments to Production in the last 30 days had not succeeded in Staging "
        f"before: #{skipped.pk} (1.0.1). Promote every release through Staging first (break "
        "glass skips the rule: keep it for emergencies)."
    )
    aged(skipped, 40)
    assert judge({"probe": "promotion_order"}, production).status == "pass"


def test_promotion_order_fails_when_production_does_not_require_staging(
    production, admin, development
):
    environment_update(actor=as_actor(admin), environment=production, requires_previous=False)
    outcome = judge({"probe": "promotion_order"}, production)
    assert outcome.status == "fail"
    assert outcome.detail == (
        "Production does not require a release to succeed in Staging first. Turn on requires "
        "previous for Production (Django admin → Environments)."
    )
    outcome = judge({"probe": "promotion_order", "environment": "development"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith("Development is the first environment of shop")


# --- verification_configured (MON-002) -------------------------------------------------------


def test_verification_configured_fails_without_automated_post_deploy_checks(
    project, production, staging, readiness_check, http_server
):
    CheckFactory(project=project, category=readiness_check.category, code="POST-09",
                 phase="post", kind="manual")  # fmt: skip
    limited = CheckFactory(project=project, category=readiness_check.category, code="POST-02",
                           phase="post", kind="http",
                           config=http_config({"url": http_server.url("/ok")}))  # fmt: skip
    limited.environments.set([staging])

    outcome = judge({"probe": "verification_configured"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "No automated post-deploy check applies to Production (at least 1 expected): a "
        "deployment there is marked verified without being tested."
    )
    outcome = judge({"probe": "verification_configured", "environment": "staging"}, production)
    assert outcome.status == "pass"
    assert outcome.detail == "1 post-deploy check verifies every deployment to Staging: POST-02."


def test_verification_configured_passes_and_counts_against_its_minimum(production, smoke_test):
    assert judge({"probe": "verification_configured"}, production).status == "pass"
    outcome = judge({"probe": "verification_configured", "min_checks": 2}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "Only 1 automated post-deploy check (POST-01) applies to Production (at least 2 expected)"
    )


# --- delivery_metrics (MON-001) --------------------------------------------------------------


def test_delivery_metrics_fails_with_too_few_deployments(release, production, ship):
    ship(release, "development")
    outcome = judge({"probe": "delivery_metrics", "environment": "development"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "Only 1 deployment to Development finished in the last 30 days (at least 5 expected): "
        "too few for the delivery metrics to mean anything."
    )


def test_delivery_metrics_passes_with_enough_deployments_and_shows_them(
    project, production, ship, deployer
):
    ship(release_of(project, "0.9.0", deployer), "development", status="failed")
    ship(release_of(project, "0.9.1", deployer), "development")
    newest = ship(release_of(project, "0.9.2", deployer), "development")
    config = {"probe": "delivery_metrics", "environment": "development", "min_deployments": 3}

    outcome = judge(config, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith(
        "3 deployments to Development finished in the last 30 days (at least 3 expected): "
        "0.5 verified a week, change failure rate 33%, median time to restore "
    )
    assert outcome.data == {
        "environment": "development", "finished": 3, "verified": 2, "failures": 1,
    }  # fmt: skip
    aged(newest, 31)
    assert judge(config, production).status == "fail"
    assert judge({**config, "within_days": 60}, production).status == "pass"


def test_delivery_metrics_shows_lead_time_in_production(release, production, ship):
    promote(ship, release, "development", "staging", "production")
    outcome = judge({"probe": "delivery_metrics", "min_deployments": 1}, production)
    assert outcome.status == "pass"
    assert "median lead time " in outcome.detail


# --- backups_encrypted (BK-004) --------------------------------------------------------------


@pytest.fixture
def main_database(project):  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main")


def report(project, days_ago: float = 0.1, **fields: Any) -> Backup:  # type: ignore[no-untyped-def]
    started = timezone.now() - timedelta(days=days_ago)
    values = {"finished_at": started + timedelta(minutes=5), "size_bytes": 1_000_000,
              "location": f"s3://shop-backups/main/{secrets.token_hex(4)}.dump", **fields}  # fmt: skip
    return backup_report(
        actor=NIGHTLY, project=project, database="main", started_at=started, **values
    )


def test_database_probes_are_pending_until_the_database_is_tracked(production):
    outcome = judge({"probe": "backups_encrypted", "database": "main"}, production)
    assert outcome.status == "pending"
    assert outcome.detail.startswith("Preflight tracks no database main in shop yet")


def test_backups_encrypted_fails_naming_the_plain_backups(project, production, main_database):
    config = {"probe": "backups_encrypted", "database": "main"}
    assert judge(config, production).status == "pending"  # no backup yet: nothing to judge
    report(project, 2, encrypted=True)
    plain = report(project, 1, encrypted=False)

    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        f"1 of 2 backups of main in the last 30 days is not encrypted: #{plain.pk}. "
        "Set PREFLIGHT_BACKUP_KEY"
    )
    assert outcome.data["unencrypted"] == [plain.pk]


def test_backups_encrypted_passes_when_every_backup_in_the_window_is(
    project, production, main_database
):
    report(project, 40, encrypted=False)
    latest = report(project, 1, encrypted=True)
    config = {"probe": "backups_encrypted", "database": "main"}
    outcome = judge(config, production)
    assert outcome.status == "pass"
    assert outcome.detail == (
        f"The only backup of main in the last 30 days is encrypted (the latest: #{latest.pk})."
    )
    assert judge({**config, "within_days": 45}, production).status == "fail"


# --- offsite_drill (BK-005) ------------------------------------------------------------------


@pytest.fixture
def drilled(project, settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A real application database on the test server that backups and drills can work on."""
    name = f"shop_src_{secrets.token_hex(4)}"
    pg.create_database(server_dsn(), name)
    dsn = pg.dsn_for(server_dsn(), name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    monkeypatch.setenv("SHOP_MAIN_DATABASE_URL", dsn)
    monkeypatch.delenv("PREFLIGHT_BACKUP_KEY", raising=False)
    settings.PREFLIGHT_BACKUP_DIR = tmp_path / "backups"
    settings.PREFLIGHT_BACKUP_WORK_DIR = ""
    settings.PREFLIGHT_BACKUP_S3_BUCKET = ""
    yield Database.objects.create(project=project, name="main", dsn_env="SHOP_MAIN_DATABASE_URL")
    pg.drop_database(server_dsn(), name)


def drill(approver, database: Database) -> RestoreDrill:  # type: ignore[no-untyped-def]
    backup_take_now(database)
    requested = drill_request(actor=as_actor(approver), database=database, send_task=False)
    drill_execute(requested.pk)
    requested.refresh_from_db()
    assert requested.status == "passed", requested.error
    return requested


def test_offsite_drill_fails_without_a_drill_and_for_one_from_local_disk(
    production, drilled, approver
):
    config = {"probe": "offsite_drill", "database": "main"}
    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "No restore drill of main passed in the last 30 days (none ever passed)"
    )
    local = drill(approver, drilled)
    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        f"Restore drill #{local.pk} of main, which passed 0\xa0minutes ago, restored backup "
        f"#{local.backup_id} from this machine's disk, not from off-site storage"
    )


def test_offsite_drill_passes_for_a_drill_restored_from_a_bucket(
    production, drilled, approver, settings, monkeypatch
):
    with local_s3(settings, monkeypatch):
        offsite = drill(approver, drilled)
        assert Backup.objects.get(pk=offsite.backup_id).location.startswith("s3://backups/")
    config = {"probe": "offsite_drill", "database": "main"}

    outcome = judge(config, production)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith(
        f"Restore drill #{offsite.pk} of main, which passed 0\xa0minutes ago, restored backup "
        f"#{offsite.backup_id} from off-site storage (s3://backups) in "
    )
    # The same drill, older than the window, is no evidence any more.
    RestoreDrill.objects.filter(pk=offsite.pk).update(
        finished_at=timezone.now() - timedelta(days=40)
    )
    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert f"(the latest, #{offsite.pk}, passed 1\xa0month" in outcome.detail
    assert judge({**config, "within_days": 60}, production).status == "pass"


# --- retention_configured (BK-006) -----------------------------------------------------------


def test_retention_configured_fails_on_the_default_and_passes_when_chosen(
    project, production, main_database, approver
):
    config = {"probe": "retention_configured", "database": "main"}
    outcome = judge(config, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "main keeps the backups Preflight takes for the default 30 days: nobody chose how long."
    )
    main_database.retention_days = 30  # the same number, but chosen
    main_database.save()
    # A backup asked for with a retention of its own (a release's last backup, kept a year).
    backup_request(
        actor=as_actor(approver),
        database=main_database,
        keep_until=timezone.now() + timedelta(days=365),
    )
    outcome = judge(config, production)
    assert outcome.status == "pass"
    assert outcome.detail == (
        "main keeps the backups Preflight takes for 30 days, set for this database; 1 backup "
        "keeps a retention of its own (keep until)."
    )


# --- size_alarm_configured (BK-007) ----------------------------------------------------------


def test_size_alarm_configured_fails_without_a_limit(project, production, main_database):
    outcome = judge({"probe": "size_alarm_configured", "database": "main"}, production)
    assert outcome.status == "fail"
    assert outcome.detail.startswith(
        "main has no backup size limit: a backup that grows until its disk is full raises no "
        "alarm (only one that shrinks below 50% of the one before it does)."
    )


def test_size_alarm_configured_passes_within_the_limit_and_warns_over_it(
    project, production, main_database
):
    main_database.size_limit_bytes = 4_000_000
    main_database.save()
    config = {"probe": "size_alarm_configured", "database": "main"}
    within = report(project, 2, size_bytes=1_000_000)
    outcome = judge(config, production)
    assert outcome.status == "pass"
    assert outcome.detail == (
        "main raises backup.failed for a backup over 3.8\xa0MB or below 50% of the one before "
        f"it; the latest, #{within.pk}, is 976.6\xa0KB (25% of the limit)."
    )
    over = report(project, 1, size_bytes=5_000_000)
    outcome = judge(config, production)
    assert outcome.status == "warn"
    assert f"the alarm is up: the latest backup, #{over.pk}, is 4.8\xa0MB" in outcome.detail


# --- config validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({}, "probe", "is required"),
        ({"probe": "vibes"}, "probe", "unknown probe; choose one of approvals_required"),
        ({"probe": "deployments_gated", "within_days": 0}, "within_days", "between 1 and 366"),
        ({"probe": "deployments_gated", "within_days": "30"}, "within_days", "whole number"),
        ({"probe": "deployments_gated", "environment": "Prod!"}, "environment", "slug"),
        ({"probe": "approvals_required", "within_days": 7}, "within_days",
         "the approvals_required probe judges no window of time; it takes environment, min_approvals"),
        ({"probe": "approvals_required", "min_approvals": 0}, "min_approvals", "between 1 and 20"),
        ({"probe": "webhook_subscribed", "environment": "production"}, "environment",
         "judges no single environment"),
        ({"probe": "webhook_subscribed", "events": ["deploy.done"]}, "events",
         "unknown event 'deploy.done'"),
        ({"probe": "webhook_subscribed", "events": []}, "events", "a list of them"),
        ({"probe": "backups_encrypted"}, "database", "is required"),
        ({"probe": "backups_encrypted", "database": "Main DB"}, "database", "e.g. pos-main"),
        ({"probe": "retention_configured", "database": "main", "within_days": 7}, "within_days",
         "judges no window of time"),
        ({"probe": "offsite_drill", "database": "main", "environment": "x"}, "environment",
         "judges no single environment"),
        ({"probe": "delivery_metrics", "min_deployments": 1.5}, "min_deployments", "whole number"),
        ({"probe": "verification_configured", "min_checks": True}, "min_checks", "whole number"),
        ({"probe": "promotion_order", "colour": "red"}, "colour", "is not one of its settings"),
    ],
)  # fmt: skip
def test_invalid_configs_are_refused_naming_the_field(config, field, message):
    with pytest.raises(ConfigError) as refused:
        get_kind("preflight").validate(config)
    assert refused.value.field == field
    assert message in refused.value.message


def test_a_valid_config_is_stored_with_its_defaults():
    validate = get_kind("preflight").validate
    assert validate({"probe": "deployments_gated"}) == {
        "probe": "deployments_gated", "within_days": 30,
    }  # fmt: skip
    assert validate({"probe": "webhook_subscribed", "events": "backup.failed"}) == {
        "probe": "webhook_subscribed", "within_days": 30, "events": ["backup.failed"],
    }  # fmt: skip
    assert validate({"probe": "size_alarm_configured", "database": "pos-main"}) == {
        "probe": "size_alarm_configured", "database": "pos-main",
    }  # fmt: skip


def test_the_catalog_refuses_an_environment_the_project_does_not_have(project, environments):
    text = """
version: 1
categories: [{key: process, name: Process, weight: 100}]
checks:
- {code: DS-010, title: Deployments go through the lock, category: process, severity: medium,
   kind: preflight, config: {probe: deployments_gated, environment: qa}}
"""
    with pytest.raises(CatalogInvalid) as refused:
        import_catalog(
            actor=Actor.of_system("test"), project=project, text=text, check_access=False
        )
    assert refused.value.errors == [
        "checks[0] (DS-010) field config.environment: no environment 'qa' in this project"
    ]


def test_a_named_environment_that_no_longer_exists_is_an_error(production):
    outcome = judge({"probe": "deployments_gated", "environment": "qa"}, production)
    assert outcome.status == "error"
    assert outcome.detail.startswith("shop has no environment 'qa'")


# --- bounded queries ---------------------------------------------------------------------------

EVERY_PROBE = [
    {"probe": "approvals_required"},
    {"probe": "webhook_subscribed"},
    {"probe": "deployments_gated"},
    {"probe": "auto_rollback_enabled"},
    {"probe": "rollback_rehearsed"},
    {"probe": "promotion_order"},
    {"probe": "verification_configured"},
    {"probe": "delivery_metrics"},
    {"probe": "backups_encrypted", "database": "main"},
    {"probe": "offsite_drill", "database": "main"},
    {"probe": "retention_configured", "database": "main"},
    {"probe": "size_alarm_configured", "database": "main"},
]


def test_every_probe_is_measured_here_and_documented():
    from pathlib import Path

    from django.conf import settings

    from checks.kinds.preflight.registry import PROBES

    assert sorted(c["probe"] for c in EVERY_PROBE) == sorted(PROBES)
    docs = (Path(settings.BASE_DIR) / "docs" / "readiness.md").read_text()
    section = docs.split("### Self-evidence (kind preflight)")[1].split("\n## ")[0]
    for name in PROBES:
        assert f"| `{name}`" in section, name


def history(project, production, staging, n: int, deployer) -> None:  # type: ignore[no-untyped-def]
    """``n`` of everything each probe reads, the quick way: only the count of queries matters."""
    database = Database.objects.get(project=project, name="main")
    for i in range(n):
        release = release_of(project, f"5.{n}.{i}", deployer)
        for env in (staging, production):
            deployment = DeploymentFactory(
                release=release, environment=env, override_reason="x" * (i % 2)
            )
            DeploymentFactory(release=release, environment=env, rollback_of=deployment,
                              recorded_after_the_fact=bool(i % 2))  # fmt: skip
        hook = Webhook.objects.create(project=project, name=f"h{n}{i}", url=f"https://h{i}.example.com/",
                                      events=["deployment.finished"])  # fmt: skip
        WebhookDelivery.objects.create(webhook=hook, event="deployment.finished", payload={},
                                       status="failed")  # fmt: skip
        backup = report(project, i, encrypted=bool(i % 2))
        RestoreDrill.objects.create(database=database, backup=backup, status="passed",
                                    finished_at=timezone.now() - timedelta(hours=i))  # fmt: skip


@pytest.mark.parametrize("config", EVERY_PROBE, ids=lambda c: c["probe"])
def test_a_probe_costs_the_same_queries_however_long_the_history(
    config, project, production, staging, main_database, deployer, approver, smoke_test
):
    main_database.size_limit_bytes = 10**9
    main_database.save()

    def queries() -> int:
        ctx = context_of(config, production)
        with CaptureQueriesContext(connection) as captured:
            evaluate(ctx)
        return len(captured)

    history(project, production, staging, 1, deployer)
    few = queries()
    history(project, production, staging, 8, deployer)
    assert queries() == few
    assert few <= 6


# --- through a readiness run -------------------------------------------------------------------

CATALOG = """
version: 1
categories: [{key: process, name: Process, weight: 100}]
checks:
- {code: CI-003, title: Approvals required, category: process, severity: critical,
   kind: preflight, config: {probe: approvals_required}}
- {code: DS-010, title: Deployments go through the lock, category: process, severity: medium,
   kind: preflight, config: {probe: deployments_gated, environment: development}}
- {code: DS-011, title: Automatic rollback, category: process, severity: medium,
   kind: preflight, config: {probe: auto_rollback_enabled}}
- {code: BK-004, title: Backups encrypted, category: process, severity: medium,
   kind: preflight, config: {probe: backups_encrypted, database: main}}
"""


def test_a_readiness_run_evaluates_the_probes_and_keeps_their_details(
    project, release, production, ship, main_database, admin, deployer, approver, approver2
):
    ship(release, "development")
    report(project, 1, encrypted=False)
    import_catalog(actor=Actor.of_system("test"), project=project, text=CATALOG, check_access=False)

    run, _ = run_start(actor=as_actor(deployer), release=release, environment=production)
    run_execute(run.pk)
    run.refresh_from_db()

    assert run.status == "finished"
    results = {r.check_item.code: r for r in run.results.select_related("check_item")}
    assert {code: r.status for code, r in results.items()} == {
        "CI-003": "pass", "DS-010": "pass", "DS-011": "fail", "BK-004": "fail",
    }  # fmt: skip
    assert results["CI-003"].detail.startswith("Production requires 2 approvals")
    assert "went through Preflight's gate and lock (the latest: #" in results["DS-010"].detail
    assert results["DS-011"].detail.startswith("Production does not roll back by itself")
    assert "is not encrypted: #" in results["BK-004"].detail
    assert results["BK-004"].data["unencrypted"]
    assert run.score == Decimal("71.4")  # critical 8 + medium 2 passing, of 8 + 2 + 2 + 2

    environment_update(actor=as_actor(admin), environment=production, auto_rollback=True)
    again, _ = run_start(actor=as_actor(deployer), release=release, environment=production)
    run_execute(again.pk)
    assert again.results.get(check_item__code="DS-011").status == "warn"


def test_the_catalog_exports_and_imports_the_probes_unchanged(project, environments):
    from checks.catalog import export_catalog
    from checks.models import Check

    import_catalog(actor=Actor.of_system("test"), project=project, text=CATALOG, check_access=False)
    before = dict(Check.objects.filter(project=project).values_list("code", "config"))
    exported = export_catalog(project)
    import_catalog(
        actor=Actor.of_system("test"), project=project, text=exported, check_access=False
    )

    assert dict(Check.objects.filter(project=project).values_list("code", "config")) == before
    assert before["DS-010"] == {
        "probe": "deployments_gated", "environment": "development", "within_days": 30,
    }  # fmt: skip


def test_a_run_judges_the_records_as_they_stood_when_it_was_started(
    project, release, production, development, ship, deployer
):
    """A run started nine days ago (the demo's review) sees the deployment recorded after the
    fact ten days ago, and not the gated one made since; a run started now sees the opposite."""
    imported = DeploymentFactory(
        release=release_of(project, "0.9.0", deployer), environment=development,
        started_at=timezone.now() - timedelta(days=10), recorded_after_the_fact=True,
    )  # fmt: skip
    gated = ship(release, "development")
    import_catalog(
        actor=Actor.of_system("test"),
        project=project,
        text=CATALOG.replace(
            "environment: development}", "environment: development, within_days: 7}"
        ),
        check_access=False,
    )

    then, _ = run_start(actor=as_actor(deployer), release=release, environment=production)
    ReadinessRun.objects.filter(pk=then.pk).update(created_at=timezone.now() - timedelta(days=9))
    run_execute(then.pk)
    now, _ = run_start(actor=as_actor(deployer), release=release, environment=production)
    run_execute(now.pk)

    past = then.results.get(check_item__code="DS-010")
    assert (past.status, past.data["bypassed"]) == ("fail", [imported.pk])
    present = now.results.get(check_item__code="DS-010")
    assert (present.status, present.data["latest"]) == ("pass", gated.pk)
