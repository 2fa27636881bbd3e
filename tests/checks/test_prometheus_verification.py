"""Post-deploy verification watching Prometheus, through a real Celery worker: each evaluation is
a short task rescheduled with a countdown; a canary that stays within its objectives is verified
when the watch ends; one whose error rate rises fails its key objective at once, and the
environment's auto-rollback deploys the release before it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.kinds import get_kind
from checks.models import CheckResult, ReadinessRun
from checks.services.deployments import deployment_finish
from preflight.celery import app as celery_app
from releases.models import Deployment, Lock

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, DeploymentFactory, ReleaseFactory
from .test_worker import _workers_idle_before_teardown, wait_for, workers  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

URL_ENV = "SHOP_PROMETHEUS_URL"


@pytest.fixture
def staging(environments, project):  # type: ignore[no-untyped-def]
    """1.0.0 is verified in staging (the release to roll back to); staging rolls back by itself."""
    staging = environments["staging"]
    staging.auto_rollback = True
    staging.save()
    DeploymentFactory(
        release=ReleaseFactory(project=project, version="1.0.0"),
        environment=staging,
        status="verified",
        started_at=timezone.now() - timedelta(days=1),
        finished_at=timezone.now() - timedelta(days=1),
        verified_at=timezone.now() - timedelta(days=1),
    )
    return staging


def deploying(project, staging, service_metrics, *, duration: str):  # type: ignore[no-untyped-def]
    """1.1.0 being deployed to staging, watched by a post-deploy prometheus check."""
    CheckFactory(
        project=project,
        category=CategoryFactory(project=project, key="runtime", weight=100),
        code="OBS-001",
        title="Canary error rate",
        phase="post",
        kind="prometheus",
        severity="critical",
        config=get_kind("prometheus").validate(
            {
                "url_env": URL_ENV,
                "window": "1m",
                "step": "1s",
                "min_samples": 2,
                "baseline": {"selector": {"version": "{previous_version}"}},
                "objectives": [
                    {
                        "name": "error rate",
                        "query": f"max(pos_error_ratio{{{service_metrics.selector()}}})",
                        "pass": "< 0.05",
                        "aggregate": "max",
                        "key": True,
                    },
                    {
                        "name": "error rate against 1.0.0",
                        "query": f"max(pos_error_ratio{{{service_metrics.selector()}}})",
                        "pass": "<= +50%",
                        "warning": "<= +100%",
                    },
                ],
                "verification": {"interval": "1s", "duration": duration},
            }
        ),
    )
    service_metrics.set("1.0.0", errors=0.010)
    service_metrics.set("1.1.0", errors=0.011)
    release = ReleaseFactory(project=project, version="1.1.0")
    return DeploymentFactory(
        release=release, environment=staging, status="in_progress", started_at=timezone.now()
    )


@pytest.fixture
def worker(workers, monkeypatch, prometheus):  # type: ignore[no-untyped-def]  # noqa: F811
    """A worker that knows where Prometheus is (the variable the check names), up and
    answering: the watch's clock starts with the deployment, not with the worker."""
    monkeypatch.setenv(URL_ENV, prometheus.url)
    process = workers()
    wait_for(lambda: bool(celery_app.control.ping(timeout=0.5)), seconds=60, every=0.2)
    return process


def result_of(deployment):  # type: ignore[no-untyped-def]
    return CheckResult.objects.get(run__deployment=deployment)


def test_a_canary_within_its_objectives_is_verified_when_the_watch_ends(
    worker, project, staging, service_metrics, deployer
):
    canary = deploying(project, staging, service_metrics, duration="4s")
    deployment_finish(actor=as_actor(deployer), deployment=canary, status="succeeded")
    wait_for(
        lambda: Deployment.objects.filter(
            pk=canary.pk, status__in=("verified", "verification_failed")
        ).exists(),
        seconds=60,
    )
    canary.refresh_from_db()
    result = result_of(canary)
    assert canary.status == "verified", result.detail
    assert result.status == "pass"
    assert result.detail.startswith("After watching for 4 s (")
    # Evaluated again and again by tasks of their own, each writing the result.
    assert len(result.data["evaluations"]) >= 3
    run = ReadinessRun.objects.get(deployment=canary)
    assert (run.status, run.attempts) == ("finished", 1)
    assert not Deployment.objects.filter(rollback_of=canary).exists()


def test_a_canary_whose_error_rate_rises_fails_its_key_objective_and_is_rolled_back(
    worker, project, staging, service_metrics, deployer
):
    canary = deploying(project, staging, service_metrics, duration="2m")  # it fails long before
    deployment_finish(actor=as_actor(deployer), deployment=canary, status="succeeded")
    # A couple of healthy evaluations, then the new release starts failing requests.
    wait_for(lambda: len(result_of(canary).data.get("evaluations", [])) >= 2, seconds=30)
    service_metrics.set("1.1.0", errors=0.300)
    # The deployment fails verification, then (a transaction later) the rollback starts.
    wait_for(lambda: Deployment.objects.filter(rollback_of=canary).exists(), seconds=30)
    result = result_of(canary)
    assert result.status == "fail"
    assert result.detail.startswith("Key objective error rate failed: 0.3 misses < 0.05.")
    assert "Found at evaluation" in result.detail
    assert result.data["objectives"][1]["baseline"] == 0.01
    canary.refresh_from_db()
    assert canary.status_detail == "Post-deploy checks failed: OBS-001 fail."
    rollback = Deployment.objects.get(rollback_of=canary)
    assert rollback.release.version == "1.0.0"
    assert Lock.objects.active().filter(environment=staging).exists()
