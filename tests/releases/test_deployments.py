from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from checks.services.approvals import approval_record
from checks.services.deployments import (
    deployment_finish,
    deployment_rollback,
    deployment_start,
    deployments_fail_timed_out,
)
from checks.tasks import fail_timed_out_deployments
from core.errors import Conflict, Denied, EnvironmentBusy, GateClosed, InvalidTransition
from releases.models import Deployment, Lock
from releases.services.locks import freeze_create, lock_acquire

from ..conftest import as_actor
from ..factories import DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_dev(release, environments, passing_run):
    """Development needs no approvals, so 1.0.0's passing run opens its gate."""
    return environments["development"]


def _start(actor, release, environment, **kwargs):
    return deployment_start(actor=actor, release=release, environment=environment, **kwargs)


def test_a_deployment_starts_when_the_gate_is_open(release, open_dev, deployer):
    deployment = _start(as_actor(deployer), release, open_dev, strategy="blue-green")
    assert (deployment.status, deployment.strategy) == ("in_progress", "blue-green")
    assert deployment.started_by == deployer
    assert AuditEvent.objects.filter(action="deployment.started", outcome="success").count() == 1


def test_a_closed_gate_refuses_with_every_reason(release, environments, deployer, passing_run):
    with pytest.raises(GateClosed) as closed:
        _start(as_actor(deployer), release, environments["production"])
    codes = [r["code"] for r in closed.value.extra["reasons"]]
    assert codes == ["approvals_missing", "previous_environment"]
    assert not Deployment.objects.exists()
    event = AuditEvent.objects.get(action="deployment.started")
    assert event.outcome == "failure"


def test_viewers_cannot_deploy(release, open_dev, viewer):
    with pytest.raises(Denied):
        _start(as_actor(viewer), release, open_dev)


def test_an_unknown_strategy_is_refused(release, open_dev, deployer):
    with pytest.raises(ValidationError):
        _start(as_actor(deployer), release, open_dev, strategy="yolo")
    assert not Deployment.objects.exists()


def test_a_second_deployment_waits_for_the_first(release, open_dev, deployer):
    first = _start(as_actor(deployer), release, open_dev)
    with pytest.raises(EnvironmentBusy) as busy:
        _start(as_actor(deployer), release, open_dev)
    assert busy.value.extra["holder"] == f"deployment #{first.pk}"
    deployment_finish(actor=as_actor(deployer), deployment=first, status="failed")
    assert _start(as_actor(deployer), release, open_dev).status == "in_progress"


def test_the_database_refuses_two_deployments_in_progress(release, open_dev):
    DeploymentFactory(release=release, environment=open_dev, status="in_progress")
    with pytest.raises(IntegrityError), transaction.atomic():
        DeploymentFactory(release=release, environment=open_dev, status="in_progress")


def test_a_locked_environment_is_busy(release, open_dev, deployer, admin):
    lock_acquire(actor=as_actor(admin), environment=open_dev, reason="database maintenance")
    with pytest.raises(EnvironmentBusy, match="database maintenance"):
        _start(as_actor(deployer), release, open_dev)


def test_a_frozen_environment_is_busy(release, open_dev, deployer, admin):
    now = timezone.now()
    freeze_create(
        actor=as_actor(admin),
        environment=open_dev,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        reason="holiday season",
    )
    with pytest.raises(EnvironmentBusy, match="holiday season"):
        _start(as_actor(deployer), release, open_dev)


def test_an_admin_breaks_glass_with_a_reason(release, environments, admin, passing_run):
    production = environments["production"]
    lock_acquire(actor=as_actor(admin), environment=production, reason="incident")
    deployment = _start(as_actor(admin), release, production, override_reason="hotfix for outage")
    assert deployment.is_override
    event = AuditEvent.objects.get(action="deployment.override")
    assert "hotfix for outage" in str(event.after)


def test_break_glass_is_for_admins_only(release, environments, approver, passing_run):
    with pytest.raises(Denied, match="override"):
        _start(as_actor(approver), release, environments["production"], override_reason="please")


def test_service_tokens_never_override(project, release, environments, passing_run):
    from releases.services.tokens import token_issue

    token, _ = token_issue(actor=Actor.of_system("t"), name="ci", project=project)
    with pytest.raises(Denied):
        _start(Actor.of_token(token), release, environments["production"], override_reason="x")


def test_break_glass_never_overrides_a_deployment_in_progress(release, open_dev, admin, deployer):
    _start(as_actor(deployer), release, open_dev)
    with pytest.raises(EnvironmentBusy):
        _start(as_actor(admin), release, open_dev, override_reason="hurry")


def test_an_open_gate_with_a_reason_is_not_an_override(release, open_dev, admin):
    assert not _start(
        as_actor(admin), release, open_dev, override_reason="just because"
    ).is_override


def test_finish_moves_through_the_state_machine(release, open_dev, deployer):
    deployment = _start(as_actor(deployer), release, open_dev)
    finished = deployment_finish(
        actor=as_actor(deployer), deployment=deployment, status="failed", detail="boom"
    )
    assert (finished.status, finished.status_detail) == ("failed", "boom")
    assert finished.finished_at is not None
    with pytest.raises(InvalidTransition):
        deployment_finish(actor=as_actor(deployer), deployment=finished, status="succeeded")


def test_finishing_twice_the_same_way_is_harmless(release, open_dev, deployer):
    deployment = _start(as_actor(deployer), release, open_dev)
    deployment_finish(actor=as_actor(deployer), deployment=deployment, status="failed")
    again = deployment_finish(actor=as_actor(deployer), deployment=deployment, status="failed")
    assert again.status == "failed"
    assert AuditEvent.objects.filter(action="deployment.finished", outcome="success").count() == 1


def test_finish_accepts_only_succeeded_or_failed(release, open_dev, deployer):
    deployment = _start(as_actor(deployer), release, open_dev)
    with pytest.raises(ValidationError):
        deployment_finish(actor=as_actor(deployer), deployment=deployment, status="verified")


def test_the_state_machine_refuses_illegal_moves():
    deployment = Deployment(status="in_progress")
    with pytest.raises(InvalidTransition):
        deployment.transition_to("verified")
    deployment.transition_to("succeeded")
    deployment.transition_to("verification_failed")
    with pytest.raises(InvalidTransition):
        deployment.transition_to("verified")


def test_rollback_deploys_the_last_good_earlier_release_and_locks(project, environments, deployer):
    production = environments["production"]
    now = timezone.now()
    old = ReleaseFactory(project=project, version="0.9.0")
    older = ReleaseFactory(project=project, version="0.8.0")
    DeploymentFactory(
        release=older, environment=production, status="verified", started_at=now - timedelta(days=3)
    )
    DeploymentFactory(
        release=old, environment=production, status="verified", started_at=now - timedelta(days=2)
    )
    bad_release = ReleaseFactory(project=project, version="1.0.0")
    DeploymentFactory(
        release=bad_release,
        environment=production,
        status="failed",
        started_at=now - timedelta(days=1),
    )
    faulty = DeploymentFactory(
        release=bad_release,
        environment=production,
        status="verification_failed",
        started_at=now - timedelta(hours=1),
    )
    rollback = deployment_rollback(
        actor=as_actor(deployer), deployment=faulty, reason="checkout broken"
    )
    assert rollback.release == old
    assert rollback.rollback_of == faulty
    assert rollback.status == "in_progress"
    lock = Lock.objects.active().get(environment=production)
    assert lock.reason == "Rollback of 1.0.0 to 0.9.0: checkout broken"
    assert lock.deployment == rollback
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "lock.acquired",
        "rollback.started",
    ]


def test_rolling_back_an_in_progress_deployment_fails_it_first(project, environments, deployer):
    production = environments["production"]
    good = ReleaseFactory(project=project, version="0.9.0")
    DeploymentFactory(
        release=good,
        environment=production,
        status="verified",
        started_at=timezone.now() - timedelta(days=1),
    )
    running = DeploymentFactory(
        release=ReleaseFactory(project=project),
        environment=production,
        status="in_progress",
        started_at=timezone.now(),
    )
    rollback = deployment_rollback(actor=as_actor(deployer), deployment=running, reason="stuck")
    running.refresh_from_db()
    assert running.status == "failed"
    assert rollback.status == "in_progress"


def test_rollback_needs_an_earlier_good_release(project, environments, deployer):
    faulty = DeploymentFactory(
        release=ReleaseFactory(project=project),
        environment=environments["production"],
        status="failed",
    )
    with pytest.raises(Conflict, match="nothing to roll back to"):
        deployment_rollback(actor=as_actor(deployer), deployment=faulty, reason="bad")
    assert Deployment.objects.count() == 1
    assert not Lock.objects.exists()


def test_rollback_needs_a_reason(project, environments, deployer):
    faulty = DeploymentFactory(
        release=ReleaseFactory(project=project), environment=environments["production"]
    )
    with pytest.raises(ValidationError):
        deployment_rollback(actor=as_actor(deployer), deployment=faulty, reason=" ")


def test_only_the_latest_deployment_can_be_rolled_back(project, environments, deployer):
    production = environments["production"]
    first = DeploymentFactory(
        release=ReleaseFactory(project=project),
        environment=production,
        started_at=timezone.now() - timedelta(days=2),
    )
    DeploymentFactory(
        release=ReleaseFactory(project=project),
        environment=production,
        started_at=timezone.now() - timedelta(days=1),
    )
    with pytest.raises(Conflict, match="no longer the latest"):
        deployment_rollback(actor=as_actor(deployer), deployment=first, reason="old")


def test_a_rollback_keeps_an_existing_lock(project, environments, deployer, admin):
    production = environments["production"]
    DeploymentFactory(
        release=ReleaseFactory(project=project),
        environment=production,
        started_at=timezone.now() - timedelta(days=2),
    )
    faulty = DeploymentFactory(release=ReleaseFactory(project=project), environment=production)
    lock_acquire(actor=as_actor(admin), environment=production, reason="already held")
    deployment_rollback(actor=as_actor(deployer), deployment=faulty, reason="bad")
    assert Lock.objects.active().get(environment=production).reason == "already held"


def test_deployments_past_their_timeout_fail_and_free_the_environment(release, open_dev, deployer):
    open_dev.deploy_timeout = timedelta(minutes=10)
    open_dev.save()
    stuck = _start(as_actor(deployer), release, open_dev)
    assert deployments_fail_timed_out(now=timezone.now() + timedelta(minutes=9)) == []
    assert fail_timed_out_deployments() == 0

    [failed] = deployments_fail_timed_out(now=timezone.now() + timedelta(minutes=11))
    assert failed.pk == stuck.pk
    stuck.refresh_from_db()
    assert stuck.status == "failed"
    assert "Timed out" in stuck.status_detail
    event = AuditEvent.objects.get(action="deployment.timed_out")
    assert event.actor == "system:deploy-timeout"
    assert _start(as_actor(deployer), release, open_dev).status == "in_progress"


def test_approvals_open_production_once_staging_succeeded(
    release, environments, approver, approver2, deployer, passing_run
):
    production = environments["production"]
    DeploymentFactory(release=release, environment=environments["staging"], status="verified")
    for person in (approver, approver2):
        approval_record(
            actor=as_actor(person), release=release, environment=production, decision="approve"
        )
    assert _start(as_actor(deployer), release, production).status == "in_progress"


def test_deployments_without_a_start_event_are_marked_recorded_after_the_fact(
    release, open_dev, deployer
):
    """The migration that added the mark: a deployment the services started has its audit
    event; one written straight into the table (the demo's seeded history) has none."""
    import importlib

    from django.apps import apps

    started = _start(as_actor(deployer), release, open_dev)
    deployment_finish(actor=as_actor(deployer), deployment=started, status="succeeded")
    seeded = DeploymentFactory(release=release, environment=open_dev)
    assert not seeded.recorded_after_the_fact

    migration = importlib.import_module(
        "releases.migrations.0005_deployment_recorded_after_the_fact"
    )
    migration.mark_records_without_a_start(apps, None)

    assert set(Deployment.objects.filter(recorded_after_the_fact=True)) == {seeded}
