"""The gate, rule by rule (PRODUCT.md "The gate"), every failing reason at once, approvals going
stale, and break glass."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from checks.gate import evaluate_gate
from checks.models import CheckResult
from checks.services.approvals import approval_record
from checks.services.deployments import deployment_start
from core.errors import Denied, EnvironmentBusy, GateClosed
from releases.models import Approval, Membership
from releases.services.locks import freeze_create, lock_acquire

from ..conftest import as_actor
from ..factories import (
    CategoryFactory,
    CheckFactory,
    DeploymentFactory,
    ReleaseFactory,
    ResultFactory,
    RunFactory,
)

pytestmark = pytest.mark.django_db


def codes(decision):  # type: ignore[no-untyped-def]
    return [reason.code for reason in decision.reasons]


@pytest.fixture
def staging(environments):  # type: ignore[no-untyped-def]
    return environments["staging"]


@pytest.fixture
def open_gate(release, environments, passing_run, approver):  # type: ignore[no-untyped-def]
    """1.0.0 may go to staging: a passing run, one approval on it, succeeded in development."""
    DeploymentFactory(release=release, environment=environments["development"], status="verified")
    approval_record(
        actor=as_actor(approver),
        release=release,
        environment=environments["staging"],
        decision="approve",
    )
    decision = evaluate_gate(release, environments["staging"])
    assert decision.allowed, decision.reasons
    assert decision.reasons == ()
    return passing_run["staging"]


def new_run(release, environment, statuses, **run_fields):  # type: ignore[no-untyped-def]
    """A finished run with one result per (code, severity, status)."""
    run = RunFactory(release=release, environment=environment, **run_fields)
    for code, severity, status in statuses:
        check = CheckFactory._meta.model.objects.filter(project=release.project, code=code).first()
        if check is None:
            check = CheckFactory(
                project=release.project,
                category=release.project.categories.get(key="all"),
                code=code,
                severity=severity,
            )
        ResultFactory(run=run, check_item=check, status=status)
    return run


def test_the_gate_opens_when_every_rule_holds(open_gate, release, staging):
    decision = evaluate_gate(release, staging)
    assert decision.score == Decimal("100.0")
    assert decision.approvals.granted == ("ana",)
    assert decision.run == open_gate


# Rule 1: the latest run is finished.


def test_no_run_keeps_it_shut(release, environments):
    assert codes(evaluate_gate(release, environments["development"])) == ["no_run"]


def test_a_run_still_going_keeps_it_shut(open_gate, release, staging):
    for status in ("queued", "running"):
        RunFactory(release=release, environment=staging, status=status, finished_at=None)
        decision = evaluate_gate(release, staging)
        assert "run_in_progress" in codes(decision)
        assert not decision.allowed


def test_a_run_that_ended_in_error_keeps_it_shut_with_its_reason(open_gate, release, staging):
    RunFactory(release=release, environment=staging, status="error", error="the worker died")
    decision = evaluate_gate(release, staging)
    assert "run_error" in codes(decision)
    assert "the worker died" in decision.reasons[0].message


def test_a_run_without_applicable_checks_keeps_it_shut(open_gate, release, staging):
    new_run(release, staging, [("OK-001", "low", "skipped")])
    assert "no_checks" in codes(evaluate_gate(release, staging))


# Rules 2 and 3: the score and critical checks.


def test_a_score_below_the_minimum_keeps_it_shut(open_gate, release, staging):
    new_run(release, staging, [("OK-001", "medium", "pass"), ("LOW-001", "medium", "fail")])
    decision = evaluate_gate(release, staging)
    assert decision.score == Decimal("50.0")
    assert "score_below_minimum" in codes(decision)
    assert "50.0 is below the 80.0" in decision.reasons[0].message


@pytest.mark.parametrize(
    ("status", "phrase"),
    [("fail", "failing"), ("error", "in error"), ("pending", "not done yet")],
)
def test_a_critical_check_not_passing_keeps_it_shut(open_gate, release, staging, status, phrase):
    statuses = [("OK-001", "medium", "pass")] + [(f"P-{n:03d}", "high", "pass") for n in range(20)]
    new_run(release, staging, [*statuses, ("CRIT-001", "critical", status)])
    decision = evaluate_gate(release, staging)
    assert decision.score is not None
    assert decision.score >= staging.min_score
    assert codes(decision).count("critical_check") == 1
    message = next(r.message for r in decision.reasons if r.code == "critical_check")
    assert "CRIT-001" in message
    assert phrase in message


# Rule 4: approvals.


def test_too_few_approvals_keep_it_shut(release, environments, passing_run, approver):
    production = environments["production"]
    DeploymentFactory(release=release, environment=environments["staging"], status="verified")
    approval_record(
        actor=as_actor(approver), release=release, environment=production, decision="approve"
    )
    decision = evaluate_gate(release, production)
    assert codes(decision) == ["approvals_missing"]
    assert decision.reasons[0].message.startswith("1 of 2 required approvals (ana); 1 more needed.")


def test_a_rejection_keeps_it_shut_whatever_else(open_gate, release, staging, approver2):
    approval_record(
        actor=as_actor(approver2),
        release=release,
        environment=staging,
        decision="reject",
        comment="No rollback plan",
    )
    decision = evaluate_gate(release, staging)
    assert codes(decision) == ["rejected"]
    assert "ben rejected 1.0.0 for Staging: No rollback plan" in decision.reasons[0].message


def test_a_persons_latest_decision_counts(open_gate, release, staging, approver):
    approval_record(
        actor=as_actor(approver),
        release=release,
        environment=staging,
        decision="reject",
        comment="wait",
    )
    assert "rejected" in codes(evaluate_gate(release, staging))
    approval_record(
        actor=as_actor(approver), release=release, environment=staging, decision="approve"
    )
    assert evaluate_gate(release, staging).allowed


def test_an_approver_who_lost_the_role_no_longer_counts(open_gate, release, staging, approver):
    Membership.objects.filter(user=approver).update(role="viewer")
    decision = evaluate_gate(release, staging)
    assert codes(decision) == ["approvals_missing"]
    assert decision.approvals.not_counted == (("ana", "is no longer an approver in this project"),)


def test_the_creators_approval_never_counts(open_gate, release, staging, deployer):
    Approval.objects.all().delete()
    Approval.objects.create(
        release=release, environment=staging, approver=deployer, decision="approve", run=open_gate
    )  # slipped past the service somehow
    Membership.objects.filter(user=deployer).update(role="approver")
    decision = evaluate_gate(release, staging)
    assert codes(decision) == ["approvals_missing"]
    assert "four-eyes" in decision.approvals.not_counted[0][1]


def test_an_approval_goes_stale_when_a_later_run_scores_lower(open_gate, release, staging):
    new_run(
        release,
        staging,
        [("OK-001", "medium", "pass")]
        + [(f"P-{n:03d}", "high", "pass") for n in range(20)]
        + [("W-001", "low", "warn")],
        score=Decimal("99.6"),
    )
    decision = evaluate_gate(release, staging)
    assert decision.score is not None
    assert decision.score >= staging.min_score
    assert codes(decision) == ["approvals_missing"]
    assert decision.approvals.stale[0][0] == "ana"
    assert "Approval by ana is stale: score 100.0 → 99.4." in decision.reasons[0].message


def test_an_approval_goes_stale_when_a_check_that_passed_fails(open_gate, release, staging):
    # The reason names both what the score did and the check that stopped passing.
    new_run(
        release,
        staging,
        [("OK-001", "medium", "fail"), ("NEW-001", "medium", "pass")],
        score=Decimal("100.0"),
    )
    decision = evaluate_gate(release, staging)
    assert "approvals_missing" in codes(decision)
    assert decision.approvals.stale == (("ana", "score 100.0 → 50.0; OK-001 pass → fail"),)


def test_an_approval_on_an_equally_good_later_run_still_counts(open_gate, release, staging):
    new_run(release, staging, [("OK-001", "medium", "pass")], score=Decimal("100.0"))
    assert evaluate_gate(release, staging).allowed


def test_an_approval_goes_stale_after_the_environment_approval_ttl(open_gate, release, staging):
    staging.approval_ttl = timedelta(hours=1)
    staging.save()
    assert evaluate_gate(release, staging).allowed
    later = timezone.now() + timedelta(hours=2)
    decision = evaluate_gate(release, staging, now=later)
    assert codes(decision) == ["approvals_missing"]
    assert "older than the Staging approval lifetime" in decision.reasons[0].message


# Rules 5, 6, 7: what holds the environment, and the promotion order.


def test_a_lock_keeps_it_shut(open_gate, release, staging, admin):
    lock_acquire(actor=as_actor(admin), environment=staging, reason="DB migration window")
    decision = evaluate_gate(release, staging)
    assert codes(decision) == ["locked"]
    assert "DB migration window" in decision.reasons[0].message


def test_a_freeze_window_keeps_it_shut(open_gate, release, staging, admin):
    now = timezone.now()
    freeze_create(
        actor=as_actor(admin),
        environment=staging,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        reason="Holiday sales",
    )
    assert codes(evaluate_gate(release, staging)) == ["frozen"]
    assert evaluate_gate(release, staging, now=now + timedelta(hours=2)).allowed


def test_not_yet_succeeded_in_the_previous_environment_keeps_it_shut(
    release, environments, passing_run, approver
):
    staging = environments["staging"]
    approval_record(
        actor=as_actor(approver), release=release, environment=staging, decision="approve"
    )
    decision = evaluate_gate(release, staging)
    assert codes(decision) == ["previous_environment"]
    DeploymentFactory(release=release, environment=environments["development"], status="failed")
    assert codes(evaluate_gate(release, staging)) == ["previous_environment"]
    DeploymentFactory(release=release, environment=environments["development"], status="succeeded")
    assert evaluate_gate(release, staging).allowed


def test_another_deployment_in_progress_keeps_it_shut(open_gate, release, staging, project):
    other = ReleaseFactory(project=project, version="0.9.0")
    DeploymentFactory(release=other, environment=staging, status="in_progress")
    decision = evaluate_gate(release, staging)
    assert codes(decision) == ["deployment_in_progress"]


def test_every_failing_reason_is_listed_not_only_the_first(
    release, environments, approver, approver2, admin
):
    production = environments["production"]
    CategoryFactory(project=release.project, key="all", weight=100)
    new_run(release, production, [("CRIT-001", "critical", "fail"), ("OK-001", "low", "pass")])
    approval_record(
        actor=as_actor(approver2),
        release=release,
        environment=production,
        decision="reject",
        comment="no",
    )
    lock_acquire(actor=as_actor(admin), environment=production, reason="incident")
    DeploymentFactory(
        release=ReleaseFactory(project=release.project),
        environment=production,
        status="in_progress",
    )
    decision = evaluate_gate(release, production)
    assert codes(decision) == [
        "score_below_minimum",
        "critical_check",
        "rejected",
        "approvals_missing",
        "deployment_in_progress",
        "locked",
        "previous_environment",
    ]


# Break glass.


def test_an_admin_may_deploy_through_a_closed_gate_with_a_reason(release, environments, admin):
    staging = environments["staging"]
    with pytest.raises(GateClosed) as closed:
        deployment_start(actor=as_actor(admin), release=release, environment=staging)
    assert [r["code"] for r in closed.value.extra["reasons"]] == [
        "no_run",
        "approvals_missing",
        "previous_environment",
    ]
    deployment = deployment_start(
        actor=as_actor(admin),
        release=release,
        environment=staging,
        override_reason="Hotfix for a card reader outage",
    )
    assert deployment.is_override
    assert deployment.override_reason == "Hotfix for a card reader outage"
    event = AuditEvent.objects.get(action="deployment.override")
    assert event.after["override_reason"] == "Hotfix for a card reader outage"
    assert "No readiness run" in event.after["gate_reasons"][0]


def test_only_admins_break_glass(release, environments, approver, deployer):
    for user in (approver, deployer):
        with pytest.raises(Denied):
            deployment_start(
                actor=as_actor(user),
                release=release,
                environment=environments["staging"],
                override_reason="please",
            )
    assert AuditEvent.objects.filter(action="deployment.started", outcome="denied").count() == 2


def test_break_glass_does_not_override_a_deployment_in_progress(
    release, environments, admin, project
):
    staging = environments["staging"]
    DeploymentFactory(
        release=ReleaseFactory(project=project), environment=staging, status="in_progress"
    )
    with pytest.raises(EnvironmentBusy):
        deployment_start(
            actor=as_actor(admin), release=release, environment=staging, override_reason="now"
        )


def test_an_open_gate_is_not_an_override(open_gate, release, staging, admin):
    deployment = deployment_start(
        actor=as_actor(admin), release=release, environment=staging, override_reason="just in case"
    )
    assert not deployment.is_override
    assert AuditEvent.objects.filter(action="deployment.started").exists()


def test_a_waiver_counts_as_passing_but_never_for_a_critical_check(
    open_gate, release, staging, approver
):
    from checks.models import Waiver

    run = new_run(
        release,
        staging,
        [("OK-001", "high", "pass"), ("LOW-001", "high", "fail"), ("CRIT-001", "critical", "pass")],
    )
    approval_record(
        actor=as_actor(approver), release=release, environment=staging, decision="approve", run=run
    )
    assert "score_below_minimum" in codes(evaluate_gate(release, staging))
    low = CheckResult.objects.get(run=run, check_item__code="LOW-001").check_item
    Waiver.objects.create(
        release=release,
        check_item=low,
        reason="accepted",
        created_by=approver,
        expires_at=timezone.now() + timedelta(days=1),
    )
    decision = evaluate_gate(release, staging)
    assert decision.allowed, decision.reasons
    assert decision.score == Decimal("100.0")
    CheckResult.objects.filter(run=run, check_item__code="CRIT-001").update(status="fail")
    crit = CheckResult.objects.get(run=run, check_item__code="CRIT-001").check_item
    Waiver.objects.create(
        release=release,
        check_item=crit,
        reason="sneaky",
        created_by=approver,
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert "critical_check" in codes(evaluate_gate(release, staging))
    # Waivers expire.
    later = timezone.now() + timedelta(days=2)
    assert "score_below_minimum" in codes(evaluate_gate(release, staging, now=later))


def test_the_gates_of_many_releases_say_what_each_gate_says(
    project, release, passing_run, environments, approver, django_assert_max_num_queries
):
    """evaluate_gates applies the same rules as evaluate_gate, in queries that do not grow
    with the releases."""
    from checks.gate import evaluate_gate, evaluate_gates
    from releases.models import Approval, Lock, Release
    from tests.factories import DeploymentFactory

    other = Release.objects.create(project=project, version="1.1.0", git_sha="abcdef1")
    DeploymentFactory(release=release, environment=environments["development"], status="verified")
    Approval.objects.create(
        release=release,
        environment=environments["staging"],
        approver=approver,
        decision="approve",
        run=passing_run["staging"],
        score=100,
        evidence={"OK-001": "pass"},
    )
    Lock.objects.create(environment=environments["production"], reason="x", owner_label="root")
    envs = list(environments.values())
    with django_assert_max_num_queries(20):
        gates = evaluate_gates([release, other], envs)
    for each in (release, other):
        for env in envs:
            single = evaluate_gate(each, env)
            assert gates[each.pk, env.pk].allowed == single.allowed
            assert gates[each.pk, env.pk].reasons == single.reasons
    assert gates[release.pk, environments["staging"].pk].allowed


def test_the_gates_of_several_projects_say_what_each_gate_says(
    project, release, passing_run, environments, approver, django_assert_max_num_queries
):
    """evaluate_gates over two projects' releases pairs each release only with its own
    project's environments, and says what evaluate_gate says of each pair."""
    from checks.gate import evaluate_gate, evaluate_gates
    from releases.models import FreezeWindow, Membership
    from tests.factories import EnvironmentFactory, ProjectFactory, ReleaseFactory, RunFactory

    other_project = ProjectFactory()
    Membership.objects.create(project=other_project, user=approver, role="approver")
    theirs = [
        EnvironmentFactory(
            project=other_project, position=n, required_approvals=0, requires_previous=n > 0
        )
        for n in range(2)
    ]
    other = ReleaseFactory(project=other_project)
    RunFactory(release=other, environment=theirs[0])
    FreezeWindow.objects.create(
        environment=theirs[1],
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=1),
        reason="holiday",
    )
    envs = [*environments.values(), *theirs]
    with django_assert_max_num_queries(20):
        gates = evaluate_gates([release, other], envs)
    assert set(gates) == {(release.pk, env.pk) for env in environments.values()} | {
        (other.pk, env.pk) for env in theirs
    }
    for (release_id, env_id), gate in gates.items():
        single = evaluate_gate(
            release if release_id == release.pk else other,
            next(env for env in envs if env.pk == env_id),
        )
        assert gate.allowed == single.allowed
        assert gate.reasons == single.reasons
        assert gate.holds == single.holds
    assert [h.code for h in gates[other.pk, theirs[1].pk].holds] == ["frozen"]


def test_the_gates_asked_for_are_the_only_ones_evaluated(
    project, release, passing_run, environments, monkeypatch, django_assert_max_num_queries
):
    """``only`` names the pairs a page shows: those say what evaluate_gate says, and the runs
    of the others are not evaluated."""
    import checks.gate
    from checks.gate import evaluate_gate, evaluate_gates
    from releases.models import Release

    other = Release.objects.create(project=project, version="1.1.0", git_sha="abcdef1")
    envs = list(environments.values())
    by_pk = {env.pk: env for env in envs}
    wanted = {(release.pk, environments["staging"].pk), (other.pk, environments["production"].pk)}
    evaluated: list[int] = []
    original = checks.gate.evaluate_runs

    def spy(runs, **kwargs):  # type: ignore[no-untyped-def]
        evaluated.extend(run.pk for run in runs)
        return original(runs, **kwargs)

    monkeypatch.setattr(checks.gate, "evaluate_runs", spy)
    with django_assert_max_num_queries(20):
        gates = evaluate_gates([release, other], envs, only=wanted)
    assert set(gates) == wanted
    assert evaluated == [passing_run["staging"].pk]
    for release_id, env_id in wanted:
        single = evaluate_gate(release if release_id == release.pk else other, by_pk[env_id])
        assert gates[release_id, env_id].allowed == single.allowed
        assert gates[release_id, env_id].reasons == single.reasons
    assert evaluate_gates([release, other], envs, only=()) == {}
