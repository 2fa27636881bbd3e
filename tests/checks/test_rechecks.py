"""Checks that answer later (checks/services/rechecks.py): a verification watching Prometheus
keeps its run open, each evaluation is a task of its own that only the evaluation the result
waits for may write, and a worker taking the run over continues the watch. Task functions are
called directly here; tests/checks/test_prometheus_verification.py runs them in a real worker."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.kinds import get_kind
from checks.models import CheckResult, ReadinessRun
from checks.services.deployments import deployment_finish
from checks.services.rechecks import result_recheck, tick_of
from checks.services.runs import STALE_AFTER, run_execute

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

URL_ENV = "SHOP_PROMETHEUS_URL"


@pytest.fixture
def staging(environments, monkeypatch, prometheus):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(URL_ENV, prometheus.url)
    return environments["staging"]


def watching_check(  # type: ignore[no-untyped-def]
    project, service_metrics, *, interval: str = "30s", duration: str = "1h", code: str = "OBS-001"
):
    return CheckFactory(
        project=project,
        category=project.categories.first()
        or CategoryFactory(project=project, key="runtime", weight=100),
        code=code,
        phase="post",
        kind="prometheus",
        severity="critical",
        config=get_kind("prometheus").validate(
            {
                "url_env": URL_ENV,
                "window": "1m",
                "step": "1s",
                "min_samples": 2,
                "objectives": [
                    {
                        "name": "error rate",
                        "query": f"max(pos_error_ratio{{{service_metrics.selector()}}})",
                        "pass": "< 0.05",
                        "key": True,
                    }
                ],
                "verification": {"interval": interval, "duration": duration},
            }
        ),
    )


def verify(release, staging, deployer, capture):  # type: ignore[no-untyped-def]
    """Deploy ``release`` to staging, finish it as succeeded and execute its verification run
    as the worker would; the run as it stands after its first evaluation."""
    deployment = DeploymentFactory(
        release=release, environment=staging, status="in_progress", started_at=timezone.now()
    )
    with capture(execute=True):
        deployment_finish(actor=as_actor(deployer), deployment=deployment, status="succeeded")
    run = ReadinessRun.objects.get(deployment=deployment)
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def result_of(run):  # type: ignore[no-untyped-def]
    return CheckResult.objects.get(run=run)


def test_a_watch_keeps_the_verification_run_open_without_holding_a_worker(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    service_metrics.set(release.version, errors=0.001)
    watching_check(release.project, service_metrics)
    before = timezone.now()
    run = verify(release, staging, deployer, django_capture_on_commit_callbacks)
    assert run.status == "running"  # run_execute returned: the next look is a scheduled task
    result = result_of(run)
    assert (result.status, result.evaluated_at) == ("pending", None)
    assert result.data["recheck"] == {"tick": 1, "after": 30}
    assert result.detail.startswith("Watching 1.0.0 for 1 h: evaluation 1, ")
    # The reaper waits for the next evaluation: the heartbeat is when it is due.
    assert run.heartbeat_at >= before + timedelta(seconds=30)
    run.deployment.refresh_from_db()
    assert run.deployment.status == "succeeded"  # not concluded yet


def test_only_the_evaluation_the_result_waits_for_writes_it(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    service_metrics.set(release.version, errors=0.001)
    watching_check(release.project, service_metrics)
    run = verify(release, staging, deployer, django_capture_on_commit_callbacks)
    result = result_of(run)
    lease = str(run.lease)

    result_recheck(run_id=run.pk, result_id=result.pk, lease=lease, tick=5)  # not due
    result_recheck(run_id=run.pk, result_id=result.pk, lease=str(uuid.uuid4()), tick=1)  # not ours
    assert tick_of(result_of(run).data) == 1

    result_recheck(run_id=run.pk, result_id=result.pk, lease=lease, tick=1)
    after = result_of(run)
    assert tick_of(after.data) == 2
    assert len(after.data["evaluations"]) == 2
    result_recheck(run_id=run.pk, result_id=result.pk, lease=lease, tick=1)  # delivered twice
    assert tick_of(result_of(run).data) == 2


def test_a_worker_taking_the_run_over_continues_the_watch(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    service_metrics.set(release.version, errors=0.001)
    watching_check(release.project, service_metrics)
    run = verify(release, staging, deployer, django_capture_on_commit_callbacks)
    result = result_of(run)
    old_lease = str(run.lease)
    # The worker holding the run died and its scheduled evaluation was lost: once that
    # evaluation is overdue, the run is taken over and the watch goes on where it was.
    ReadinessRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - STALE_AFTER - timedelta(seconds=1)
    )
    run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("running", 2)
    taken_over = result_of(run)
    assert tick_of(taken_over.data) == 2
    assert len(taken_over.data["evaluations"]) == 2
    assert taken_over.data["watch"]["started"] == run.created_at.isoformat()

    result_recheck(run_id=run.pk, result_id=result.pk, lease=old_lease, tick=2)
    assert tick_of(result_of(run).data) == 2  # the old worker's evaluation writes nothing


def test_the_last_evaluation_finishes_the_run_and_concludes_the_verification(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    service_metrics.set(release.version, errors=0.001)
    service_metrics.wait_for_samples(release.version, 4)
    watching_check(release.project, service_metrics, interval="1s", duration="5s")
    run = verify(release, staging, deployer, django_capture_on_commit_callbacks)
    result = result_of(run)
    # The watch began a while ago (time passes between evaluations): its duration is over.
    ReadinessRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=6))
    with django_capture_on_commit_callbacks(execute=True):
        result_recheck(run_id=run.pk, result_id=result.pk, lease=str(run.lease), tick=1)
    run.refresh_from_db()
    assert run.status == "finished"
    final = result_of(run)
    assert final.status == "pass", final.detail
    assert final.evaluated_at is not None
    assert final.detail.startswith("After watching for 5 s (2 evaluations): Every objective met")
    deployment = run.deployment
    deployment.refresh_from_db()
    assert deployment.status == "verified"


def test_a_readiness_run_evaluates_the_check_once(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    from checks.services.runs import run_start

    service_metrics.set(release.version, errors=0.001)
    service_metrics.wait_for_samples(release.version, 2)
    check = watching_check(release.project, service_metrics)
    check.phase = "pre-deploy-day"
    check.save()
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = run_start(actor=as_actor(deployer), release=release, environment=staging)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "finished"
    result = result_of(run)
    assert result.status == "pass", result.detail
    assert "recheck" not in result.data


def test_the_baseline_of_a_verification_is_the_release_verified_before_and_its_span(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    """previous_release compares with 1.0.0 over the time it ran alone in staging: from its
    deployment's end until 1.1.0's deployment started."""
    from checks.services.sources import last_verified_release

    earlier = timezone.now() - timedelta(hours=2)
    DeploymentFactory(
        release=release,
        environment=staging,
        status="verified",
        started_at=earlier,
        finished_at=earlier + timedelta(minutes=3),
        verified_at=earlier + timedelta(minutes=5),
    )
    newer = ReleaseFactory(project=release.project, version="1.1.0")
    replaced = DeploymentFactory(
        release=newer, environment=staging, status="in_progress", started_at=timezone.now()
    )
    verified = last_verified_release(newer, staging)
    assert verified is not None
    assert (verified.version, verified.live_from, verified.live_until) == (
        "1.0.0",
        earlier + timedelta(minutes=3),
        replaced.started_at,
    )


def test_a_verification_that_failed_already_does_not_wait_for_its_watches(
    release, staging, deployer, service_metrics, http_server, django_capture_on_commit_callbacks
):
    from checks.kinds.http import validate as http_config

    service_metrics.set(release.version, errors=0.001)
    watching = watching_check(release.project, service_metrics)
    CheckFactory(
        project=release.project,
        category=watching.category,
        code="SMOKE-01",
        phase="post",
        kind="http",
        config=http_config({"url": http_server.url("/status/502")}),
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = verify(release, staging, deployer, django_capture_on_commit_callbacks)
    assert run.status == "finished"  # at once, not in an hour
    watched = CheckResult.objects.get(run=run, check_item=watching)
    assert watched.status == "pending"
    assert watched.detail == "Not watched to the end: the verification had failed on another check."
    run.deployment.refresh_from_db()
    assert run.deployment.status == "verification_failed"
    assert (
        run.deployment.status_detail == "Post-deploy checks failed: OBS-001 pending, SMOKE-01 fail."
    )


def test_a_failed_key_objective_ends_the_verification_while_other_watches_go_on(
    release, staging, deployer, service_metrics, django_capture_on_commit_callbacks
):
    service_metrics.set(release.version, errors=0.001)
    service_metrics.wait_for_samples(release.version, 4)
    calm = watching_check(release.project, service_metrics)
    strict = watching_check(release.project, service_metrics, code="OBS-002")
    objective = {**strict.config["objectives"][0], "pass": "< 0.0001"}
    strict.config = {**strict.config, "objectives": [objective]}
    strict.save()
    run = verify(release, staging, deployer, django_capture_on_commit_callbacks)
    assert run.status == "running"
    # Time passes: there is data since the deployment, and OBS-002's next evaluation comes.
    ReadinessRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=6))
    failing = CheckResult.objects.get(run=run, check_item=strict)
    with django_capture_on_commit_callbacks(execute=True):
        result_recheck(run_id=run.pk, result_id=failing.pk, lease=str(run.lease), tick=1)
    run.refresh_from_db()
    assert run.status == "finished"
    failing.refresh_from_db()
    assert failing.status == "fail"
    assert failing.detail.startswith("Key objective error rate failed: 0.001 misses < 0.0001.")
    assert CheckResult.objects.get(run=run, check_item=calm).status == "pending"
    run.deployment.refresh_from_db()
    assert run.deployment.status == "verification_failed"
