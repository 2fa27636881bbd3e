"""An approval is for the evidence its approver saw (PRODUCT.md, the gate's rule 4): it records
the run, the score and each check's status, and goes stale when the evidence gets worse — in a
later run or inside the same run (tick, untick, CI report, attestation withdrawn, waiver revoked
or run out) — naming what moved. Unchanged or better evidence keeps it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from checks.evaluation import evaluate
from checks.gate import evaluate_gate
from checks.services.approvals import approval_record
from checks.services.attestations import attestation_record, attestation_withdraw
from checks.services.results import ci_result_record, tick_record
from checks.services.runs import run_execute, run_start
from checks.services.waivers import waiver_grant, waiver_revoke
from checks.snapshots import Snapshot
from releases.models import Approval

from ..conftest import as_actor

pytestmark = pytest.mark.django_db


def stale_after(approved, release, change, *, now=None):  # type: ignore[no-untyped-def]
    """Apply a change to the approved run in place; the gate's answer after it."""
    change()
    decision = evaluate_gate(release, approved.environment, now=now)
    assert decision.run == approved.run  # the same run, changed in place
    assert not decision.allowed
    return decision


def approvals_reason(decision) -> str:  # type: ignore[no-untyped-def]
    return next(r.message for r in decision.reasons if r.code == "approvals_missing")


def test_an_approval_records_the_evidence_it_was_given_on(approved, release, approver):
    approval = Approval.objects.get(approver=approver)
    assert approval.run == approved.run
    assert approval.score == Decimal("100.0")
    assert approval.evidence == {
        "M-001": "pass",
        "C-001": "pass",
        "CI-001": "pass",
        "W-001": "waived",
    }
    event = AuditEvent.objects.get(action="approval.recorded")
    assert event.after["score"] == "100.0"


# Each way the same run changes for the worse.


def test_a_ci_report_inside_the_run_makes_it_stale(approved, release):
    def report_failure() -> None:
        ci_result_record(
            actor=Actor.of_token(approved.pipeline),
            release=release,
            environment=approved.environment,
            check=approved.checks["CI-001"],
            status="fail",
        )

    decision = stale_after(approved, release, report_failure)
    assert decision.approvals.stale == (("ana", "score 100.0 → 77.8; CI-001 pass → fail"),)
    assert "Approval by ana is stale: score 100.0 → 77.8; CI-001 pass → fail." in approvals_reason(
        decision
    )


def test_an_untick_inside_the_run_makes_it_stale(approved, release, deployer):
    def untick() -> None:
        tick_record(
            actor=as_actor(deployer),
            release=release,
            environment=approved.environment,
            check=approved.checks["M-001"],
            ticked=False,
        )

    decision = stale_after(approved, release, untick)
    assert decision.approvals.stale == (("ana", "score 100.0 → 77.8; M-001 pass → pending"),)


def test_a_tick_by_the_creator_of_a_critical_check_makes_it_stale(approved, release, deployer):
    # dana ticking C-001 again replaces ben's tick: a creator's tick of a critical check does
    # not count until someone attests it.
    def tick_again() -> None:
        tick_record(
            actor=as_actor(deployer),
            release=release,
            environment=approved.environment,
            check=approved.checks["C-001"],
            note="re-checked it myself",
        )

    decision = stale_after(approved, release, tick_again)
    assert decision.approvals.stale == (("ana", "score 100.0 → 55.6; C-001 pass → pending"),)
    assert "critical_check" in [r.code for r in decision.reasons]


def test_a_revoked_waiver_makes_it_stale(approved, release, approver2):
    decision = stale_after(
        approved, release, lambda: waiver_revoke(actor=as_actor(approver2), waiver=approved.waiver)
    )
    assert decision.approvals.stale == (("ana", "score 100.0 → 88.9; W-001 waived → fail"),)


def test_a_waiver_running_out_makes_it_stale_at_once(approved, release):
    expiry = approved.waiver.expires_at
    just_before = evaluate_gate(release, approved.environment, now=expiry - timedelta(seconds=1))
    assert just_before.allowed
    assert just_before.changes_at == expiry  # a kept answer must not outlive it
    decision = stale_after(approved, release, lambda: None, now=expiry)
    assert decision.approvals.stale == (("ana", "score 100.0 → 88.9; W-001 waived → fail"),)
    assert decision.changes_at is None


def test_a_withdrawn_attestation_makes_it_stale(release, approved, deployer, approver2):
    staging, critical = approved.environment, approved.checks["C-001"]
    tick_record(actor=as_actor(deployer), release=release, environment=staging, check=critical)
    assert not evaluate_gate(release, staging).allowed  # the creator's tick waits for four eyes
    attestation = attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    assert evaluate_gate(release, staging).allowed  # C-001 passes again: ana's approval counts
    decision = stale_after(
        approved,
        release,
        lambda: attestation_withdraw(actor=as_actor(approver2), attestation=attestation),
    )
    assert decision.approvals.stale == (("ana", "score 100.0 → 55.6; C-001 pass → pending"),)


# Unchanged or better evidence keeps the approval.


def test_the_same_report_again_keeps_it(approved, release):
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=approved.environment,
        check=approved.checks["CI-001"],
        status="pass",
        detail="re-run of the job",
    )
    decision = evaluate_gate(release, approved.environment)
    assert decision.allowed, decision.reasons
    assert decision.approvals.granted == ("ana",)


def test_a_later_run_with_the_same_evidence_keeps_it(approved, release, deployer):
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=approved.environment)
    run_execute(run.pk)
    decision = evaluate_gate(release, approved.environment)
    assert decision.run == run != approved.run
    assert decision.allowed, decision.reasons


def test_a_later_run_that_is_worse_makes_it_stale(approved, release, deployer):
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=approved.environment,
        check=approved.checks["CI-001"],
        status="warn",
    )
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=approved.environment)
    run_execute(run.pk)
    decision = evaluate_gate(release, approved.environment)
    assert decision.run == run
    assert decision.approvals.stale == (("ana", "score 100.0 → 88.9; CI-001 pass → warn"),)


def test_better_evidence_keeps_it(release, approved, approver, approver2):
    staging = approved.environment
    waiver_revoke(actor=as_actor(approver2), waiver=approved.waiver)
    # ana approves again, now at 88.9 with W-001 failing ...
    approval_record(
        actor=as_actor(approver), release=release, environment=staging, decision="approve"
    )
    assert Approval.objects.filter(approver=approver).first().score == Decimal("88.9")  # type: ignore[union-attr]
    # ... then W-001 is waived again (fail → waived) and later fixed (→ pass): better both times.
    waiver_grant(
        actor=as_actor(approver2),
        release=release,
        check=approved.checks["W-001"],
        reason="accepted",
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert evaluate_gate(release, staging).allowed
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=staging,
        check=approved.checks["W-001"],
        status="pass",
    )
    decision = evaluate_gate(release, staging)
    assert decision.allowed, decision.reasons
    assert decision.score == Decimal("100.0")


def test_a_run_still_going_is_not_judged(approved, release, deployer):
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=approved.environment)
    decision = evaluate_gate(release, approved.environment)
    assert [r.code for r in decision.reasons] == ["run_in_progress"]
    assert decision.approvals.granted == ("ana",)
    assert run.status == "queued"


# What the approver saw.


def test_approving_what_the_page_showed_is_refused_when_the_evidence_changed_since(
    approved, release, approver2
):
    seen = Snapshot.of(evaluate(approved.run)).fingerprint(approved.run.pk)
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=approved.environment,
        check=approved.checks["CI-001"],
        status="fail",
    )
    with pytest.raises(ValidationError) as refused:
        approval_record(
            actor=as_actor(approver2),
            release=release,
            environment=approved.environment,
            decision="approve",
            run=approved.run,
            seen=seen,
        )
    assert "The evidence changed since this page was loaded" in refused.value.messages[0]
    assert not Approval.objects.filter(approver=approver2).exists()
    # Seeing it as it is now, the approval is recorded (and a rejection never needs it).
    now_seen = Snapshot.of(evaluate(approved.run)).fingerprint(approved.run.pk)
    approval = approval_record(
        actor=as_actor(approver2),
        release=release,
        environment=approved.environment,
        decision="approve",
        run=approved.run,
        seen=now_seen,
    )
    assert approval.evidence["CI-001"] == "fail"
    assert approval.score == Decimal("77.8")
