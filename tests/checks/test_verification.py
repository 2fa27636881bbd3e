"""Post-deploy verification: a succeeded deployment runs its environment's post-phase checks and
becomes verified or verification_failed; with auto_rollback a failure rolls back and locks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from checks.kinds.http import validate as http_config
from checks.models import ReadinessRun
from checks.services.deployments import deployment_finish
from checks.services.runs import run_execute, run_fail
from checks.services.verification import verification_conclude
from releases.models import Deployment, Lock

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(environments):  # type: ignore[no-untyped-def]
    return environments["staging"]


@pytest.fixture
def deploying(release, staging, project):  # type: ignore[no-untyped-def]
    """0.9.0 went well in staging yesterday; 1.0.0 is being deployed there now."""
    DeploymentFactory(
        release=ReleaseFactory(project=project, version="0.9.0"),
        environment=staging,
        status="verified",
        started_at=timezone.now() - timedelta(days=1),
    )
    return DeploymentFactory(
        release=release, environment=staging, status="in_progress", started_at=timezone.now()
    )


def post_check(project, url, code, **fields):  # type: ignore[no-untyped-def]
    category = project.categories.first() or CategoryFactory(
        project=project, key="smoke", weight=100
    )
    return CheckFactory(
        project=project,
        category=category,
        code=code,
        phase="post",
        kind="http",
        config=http_config({"url": url}),
        **fields,
    )


def succeed(deployment, user, capture):  # type: ignore[no-untyped-def]
    """Finish the deployment as succeeded and run what the worker would run."""
    with capture(execute=True):
        deployment_finish(actor=as_actor(user), deployment=deployment, status="succeeded")
    run = ReadinessRun.objects.filter(deployment=deployment).first()
    if run is not None:
        with capture(execute=True):
            run_execute(run.pk)
        run.refresh_from_db()
    deployment.refresh_from_db()
    return run


def test_passing_smoke_tests_verify_the_deployment(
    deploying, deployer, project, http_server, django_capture_on_commit_callbacks
):
    post_check(project, http_server.url("/ok"), "POST-01")
    CheckFactory(
        project=project,
        category=project.categories.first(),
        code="POST-02",
        phase="post",
        kind="manual",
    )
    CheckFactory(project=project, category=project.categories.first(), code="PRE-01", kind="ci")
    run = succeed(deploying, deployer, django_capture_on_commit_callbacks)
    assert run is not None
    assert (run.kind, run.status) == ("verification", "finished")
    assert [r.check_item.code for r in run.results.all()] == [
        "POST-01"
    ]  # automated post checks only
    assert deploying.status == "verified"
    assert deploying.verified_at is not None
    assert f"run #{run.pk}" in deploying.status_detail
    assert AuditEvent.objects.filter(
        action="deployment.verified", actor="system:verification"
    ).exists()


def test_without_post_checks_the_deployment_is_verified_at_once(
    deploying, deployer, django_capture_on_commit_callbacks
):
    assert succeed(deploying, deployer, django_capture_on_commit_callbacks) is None
    assert deploying.status == "verified"
    assert "No post-deploy checks apply" in deploying.status_detail


def test_failing_smoke_tests_fail_verification_without_rollback_unless_asked(
    deploying, deployer, project, http_server, django_capture_on_commit_callbacks
):
    post_check(project, http_server.url("/ok"), "POST-01")
    post_check(project, http_server.url("/status/502"), "POST-02")
    succeed(deploying, deployer, django_capture_on_commit_callbacks)
    assert deploying.status == "verification_failed"
    assert deploying.status_detail == "Post-deploy checks failed: POST-02 fail."
    assert not Deployment.objects.filter(rollback_of=deploying).exists()
    assert not Lock.objects.exists()


def test_with_auto_rollback_a_failed_verification_rolls_back_and_locks(
    deploying, deployer, staging, project, http_server, django_capture_on_commit_callbacks
):
    staging.auto_rollback = True
    staging.save()
    post_check(project, http_server.url("/status/502"), "POST-01")
    succeed(deploying, deployer, django_capture_on_commit_callbacks)
    assert deploying.status == "verification_failed"
    rollback = Deployment.objects.get(rollback_of=deploying)
    assert rollback.release.version == "0.9.0"
    assert rollback.status == "in_progress"
    lock = Lock.objects.active().get(environment=staging)
    assert "Rollback of 1.0.0 to 0.9.0" in lock.reason
    event = AuditEvent.objects.get(action="rollback.started")
    assert event.actor == "system:auto-rollback"


def test_a_verification_run_that_ends_in_error_fails_verification(
    deploying, deployer, project, http_server, django_capture_on_commit_callbacks
):
    post_check(project, http_server.url("/ok"), "POST-01")
    with django_capture_on_commit_callbacks(execute=True):
        deployment_finish(actor=as_actor(deployer), deployment=deploying, status="succeeded")
    run = ReadinessRun.objects.get(deployment=deploying)
    with django_capture_on_commit_callbacks(execute=True):
        run_fail(run.pk, "Gave up after 3 attempts: the worker running it stopped each time.")
    deploying.refresh_from_db()
    assert deploying.status == "verification_failed"
    assert "ended in error: Gave up after 3 attempts" in deploying.status_detail


def test_concluding_twice_changes_nothing(
    deploying, deployer, project, http_server, django_capture_on_commit_callbacks
):
    post_check(project, http_server.url("/ok"), "POST-01")
    run = succeed(deploying, deployer, django_capture_on_commit_callbacks)
    assert run is not None
    events = AuditEvent.objects.count()
    verification_conclude(run.pk)
    deploying.refresh_from_db()
    assert deploying.status == "verified"
    assert AuditEvent.objects.count() == events


def test_the_reaper_concludes_a_verification_whose_worker_died_before_concluding(
    deploying, deployer, project, http_server, django_capture_on_commit_callbacks
):
    from checks.services.runs import STALE_AFTER, runs_reap

    post_check(project, http_server.url("/ok"), "POST-01")
    with django_capture_on_commit_callbacks(execute=True):
        deployment_finish(actor=as_actor(deployer), deployment=deploying, status="succeeded")
    run = ReadinessRun.objects.get(deployment=deploying)
    run_execute(run.pk)  # its on-commit conclusion never runs: the worker died right there
    deploying.refresh_from_db()
    assert deploying.status == "succeeded"
    assert runs_reap() == []  # not yet: the conclusion may still be on its way
    assert runs_reap(now=timezone.now() + STALE_AFTER + timedelta(seconds=1)) == [run.pk]
    deploying.refresh_from_db()
    assert deploying.status == "verified"
    assert runs_reap(now=timezone.now() + STALE_AFTER + timedelta(seconds=1)) == []
