"""Waivers (approver only, reason, expiry, never critical, four-eyes), manual ticks and CI
reports: each audited, refusals too, and nothing half-written."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from checks.evaluation import evaluate
from checks.models import ManualTick, ReportedResult, Waiver
from checks.services.results import ci_result_record, tick_record
from checks.services.runs import run_execute, run_start
from checks.services.waivers import waiver_grant, waiver_revoke
from core.errors import Conflict, Denied
from releases.models import Membership
from releases.services.tokens import token_issue

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, ResultFactory, RunFactory

pytestmark = pytest.mark.django_db

SOON = timedelta(days=7)


@pytest.fixture
def category(project):  # type: ignore[no-untyped-def]
    return CategoryFactory(project=project, key="all", weight=100)


@pytest.fixture
def failing(release, environments, category):  # type: ignore[no-untyped-def]
    """A finished staging run of 1.0.0 where a high check fails and a critical check fails."""
    run = RunFactory(release=release, environment=environments["staging"])
    high = CheckFactory(project=release.project, category=category, code="H-001", severity="high")
    critical = CheckFactory(
        project=release.project, category=category, code="C-001", severity="critical"
    )
    ok = CheckFactory(project=release.project, category=category, code="OK-001", severity="high")
    for check, status in ((high, "fail"), (critical, "fail"), (ok, "pass")):
        ResultFactory(run=run, check_item=check, status=status)
    return {"run": run, "high": high, "critical": critical, "ok": ok}


def grant(user, release, check, reason="Accepted for one week", expires_at=None):  # type: ignore[no-untyped-def]
    return waiver_grant(
        actor=as_actor(user),
        release=release,
        check=check,
        reason=reason,
        expires_at=expires_at or timezone.now() + SOON,
    )


def test_an_approver_waives_a_failing_non_critical_check(release, failing, approver):
    before = evaluate(failing["run"]).overall
    waiver = grant(approver, release, failing["high"])
    assert waiver.created_by == approver
    after = evaluate(failing["run"])
    assert after.overall is not None
    assert before is not None
    assert after.overall > before
    waived = next(r for r in after.results if r.check.code == "H-001")
    assert waived.status == "waived"
    assert "Accepted for one week" in waived.detail
    event = AuditEvent.objects.get(action="waiver.granted")
    assert (event.outcome, event.actor) == ("success", "ana")
    assert event.after["check"] == "H-001"
    assert event.after["reason"] == "Accepted for one week"


def test_only_approvers_waive_and_the_refusal_is_audited(release, failing, deployer, viewer):
    for user in (deployer, viewer):
        with pytest.raises(Denied):
            grant(user, release, failing["high"])
    assert not Waiver.objects.exists()
    assert AuditEvent.objects.filter(action="waiver.granted", outcome="denied").count() == 2


def test_the_creator_cannot_waive_checks_of_their_own_release(release, failing, deployer):
    Membership.objects.filter(user=deployer).update(role="approver")
    with pytest.raises(Denied) as refused:
        grant(deployer, release, failing["high"])
    assert refused.value.code == "four_eyes"
    assert not Waiver.objects.exists()


def test_critical_checks_cannot_be_waived(release, failing, approver):
    with pytest.raises(ValidationError) as refused:
        grant(approver, release, failing["critical"])
    assert "critical checks cannot be waived" in refused.value.message_dict["check"][0]
    assert not Waiver.objects.exists()
    assert not AuditEvent.objects.filter(action="waiver.granted").exists()


def test_a_passing_check_has_nothing_to_waive(release, failing, approver):
    with pytest.raises(ValidationError) as refused:
        grant(approver, release, failing["ok"])
    assert "nothing to waive" in refused.value.message_dict["check"][0]


@pytest.mark.parametrize(
    ("reason", "expires_in", "field"),
    [
        ("", SOON, "reason"),
        ("   ", SOON, "reason"),
        ("ok", timedelta(minutes=-1), "expires_at"),
        ("ok", timedelta(days=91), "expires_at"),
    ],
)
def test_a_waiver_needs_a_reason_and_a_near_future_expiry(
    release, failing, approver, reason, expires_in, field
):
    with pytest.raises(ValidationError) as refused:
        grant(
            approver,
            release,
            failing["high"],
            reason=reason,
            expires_at=timezone.now() + expires_in,
        )
    assert field in refused.value.message_dict
    assert not Waiver.objects.exists()


def test_one_open_waiver_per_check_and_release(release, failing, approver, approver2):
    grant(approver, release, failing["high"])
    with pytest.raises(Conflict):
        grant(approver2, release, failing["high"])
    assert Waiver.objects.count() == 1


def test_an_expired_waiver_can_be_renewed_and_a_revoked_one_stops_counting(
    release, failing, approver
):
    past = timezone.now() - timedelta(days=10)
    Waiver.objects.create(
        release=release,
        check_item=failing["high"],
        reason="old",
        created_by=approver,
        created_at=past,
        expires_at=past + timedelta(days=1),
    )
    waiver = grant(approver, release, failing["high"])
    assert Waiver.objects.filter(revoked_at__isnull=True).get() == waiver
    waiver_revoke(actor=as_actor(approver), waiver=waiver)
    assert AuditEvent.objects.filter(action="waiver.revoked").count() == 1
    waiver_revoke(actor=as_actor(approver), waiver=waiver)  # again: nothing more happens
    assert AuditEvent.objects.filter(action="waiver.revoked").count() == 1
    statuses = {r.check.code: r.status for r in evaluate(failing["run"]).results}
    assert statuses["H-001"] == "fail"


# Manual ticks.


@pytest.fixture
def manual_run(release, environments, deployer, category):  # type: ignore[no-untyped-def]
    CheckFactory(
        project=release.project, category=category, code="M-001", kind="manual", severity="high"
    )
    CheckFactory(
        project=release.project, category=category, code="CI-001", kind="ci", severity="high"
    )
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.score == Decimal("0.0")
    return run


def test_ticking_a_manual_check_passes_it_in_the_latest_run_and_rescores(
    manual_run, release, environments, deployer
):
    check = manual_run.results.get(check_item__code="M-001").check_item
    tick = tick_record(
        actor=as_actor(deployer),
        release=release,
        environment=environments["staging"],
        check=check,
        note="Checked the runbook",
        evidence_url="https://wiki.example.com/runbook",
    )
    assert tick.ticked_by == deployer
    result = manual_run.results.get(check_item=check)
    assert (result.status, result.evidence_url) == ("pass", "https://wiki.example.com/runbook")
    assert result.detail == "Ticked by dana: Checked the runbook"
    manual_run.refresh_from_db()
    assert manual_run.score == Decimal("50.0")
    event = AuditEvent.objects.get(action="check.ticked")
    assert event.after["note"] == "Checked the runbook"

    tick_record(
        actor=as_actor(deployer),
        release=release,
        environment=environments["staging"],
        check=check,
        ticked=False,
    )
    assert manual_run.results.get(check_item=check).status == "pending"
    assert AuditEvent.objects.filter(action="check.unticked").exists()
    # A new run reads the latest tick of each person's history: ticked again, it passes.
    tick_record(
        actor=as_actor(deployer), release=release, environment=environments["staging"], check=check
    )
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    run_execute(run.pk)
    assert run.results.get(check_item=check).status == "pass"
    assert ManualTick.objects.count() == 3


def test_ticks_are_refused_for_viewers_other_kinds_and_bad_links(
    manual_run, release, environments, viewer, deployer
):
    staging = environments["staging"]
    manual = manual_run.results.get(check_item__code="M-001").check_item
    ci = manual_run.results.get(check_item__code="CI-001").check_item
    with pytest.raises(Denied):
        tick_record(actor=as_actor(viewer), release=release, environment=staging, check=manual)
    with pytest.raises(ValidationError) as refused:
        tick_record(actor=as_actor(deployer), release=release, environment=staging, check=ci)
    assert "only manual checks are ticked" in refused.value.message_dict["check"][0]
    with pytest.raises(ValidationError) as refused:
        tick_record(
            actor=as_actor(deployer),
            release=release,
            environment=staging,
            check=manual,
            evidence_url="javascript:alert(1)",
        )
    assert "evidence_url" in refused.value.message_dict
    assert not ManualTick.objects.exists()
    assert manual_run.results.get(check_item=manual).status == "pending"
    outcomes = sorted(
        AuditEvent.objects.filter(action="check.ticked").values_list("outcome", flat=True)
    )
    assert outcomes == ["denied"]  # invalid input is answered, not audited


# CI reports.


def test_ci_reports_a_result_that_updates_the_latest_run(
    manual_run, release, environments, project
):
    token, _ = token_issue(actor=Actor.of_system("test"), name="github-actions", project=project)
    ci = manual_run.results.get(check_item__code="CI-001").check_item
    report = ci_result_record(
        actor=Actor.of_token(token),
        release=release,
        environment=environments["staging"],
        check=ci,
        status="pass",
        detail="412 tests passed",
        url="https://ci.example.com/runs/7",
    )
    assert report.reported_by_label == "token:github-actions"
    result = manual_run.results.get(check_item=ci)
    assert (result.status, result.detail, result.evidence_url) == (
        "pass",
        "412 tests passed",
        "https://ci.example.com/runs/7",
    )
    manual_run.refresh_from_db()
    assert manual_run.score == Decimal("50.0")
    event = AuditEvent.objects.get(action="check.reported")
    assert (event.actor, event.after["status"]) == ("token:github-actions", "pass")

    # The next run reads the latest report.
    ci_result_record(
        actor=Actor.of_token(token),
        release=release,
        environment=environments["staging"],
        check=ci,
        status="fail",
    )
    run, _ = run_start(
        actor=Actor.of_token(token), release=release, environment=environments["staging"]
    )
    run_execute(run.pk)
    assert run.results.get(check_item=ci).status == "fail"
    assert ReportedResult.objects.count() == 2


def test_ci_reports_are_validated(manual_run, release, environments, project, viewer):
    token, _ = token_issue(actor=Actor.of_system("test"), name="ci", project=project)
    staging = environments["staging"]
    ci = manual_run.results.get(check_item__code="CI-001").check_item
    manual = manual_run.results.get(check_item__code="M-001").check_item
    for check, status, field in (
        (ci, "waived", "status"),
        (ci, "pending", "status"),
        (manual, "pass", "check"),
    ):
        with pytest.raises(ValidationError) as refused:
            ci_result_record(
                actor=Actor.of_token(token),
                release=release,
                environment=staging,
                check=check,
                status=status,
            )
        assert field in refused.value.message_dict
    with pytest.raises(Denied):
        ci_result_record(
            actor=as_actor(viewer), release=release, environment=staging, check=ci, status="pass"
        )
    assert not ReportedResult.objects.exists()
    assert manual_run.results.get(check_item=ci).status == "pending"
