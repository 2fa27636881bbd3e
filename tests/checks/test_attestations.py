"""Four eyes on evidence: a critical manual check ticked by the release's creator stays pending
(no score, a blocker) until another person attests that very tick; the creator cannot attest;
unticking or ticking again needs a new attestation; withdrawing one takes the check back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from audit.actors import Actor
from audit.models import AuditEvent
from checks.gate import evaluate_gate
from checks.models import Attestation, CheckResult
from checks.services.attestations import attestation_record, attestation_withdraw
from checks.services.results import tick_record
from checks.services.runs import run_execute, run_start
from core.errors import Conflict, Denied
from releases.services.tokens import token_issue

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def critical(project):  # type: ignore[no-untyped-def]
    category = CategoryFactory(project=project, key="all", weight=100)
    CheckFactory(project=project, category=category, code="OK-001", kind="manual", severity="high")
    return CheckFactory(
        project=project, category=category, code="RB-001", kind="manual", severity="critical"
    )


@pytest.fixture
def run(release, environments, deployer, critical):  # type: ignore[no-untyped-def]
    staging = environments["staging"]
    ok = critical.project.checks.get(code="OK-001")
    tick_record(actor=as_actor(deployer), release=release, environment=staging, check=ok)
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=staging)
    run_execute(run.pk)
    return run


def result(run, check) -> CheckResult:  # type: ignore[no-untyped-def]
    return CheckResult.objects.select_related("attested_by", "source_user").get(
        run=run, check_item=check
    )


def tick(user, release, environment, check, ticked=True):  # type: ignore[no-untyped-def]
    return tick_record(
        actor=as_actor(user),
        release=release,
        environment=environment,
        check=check,
        ticked=ticked,
        note="Rollback rehearsed on staging",
    )


def test_the_creators_tick_of_a_critical_check_does_not_count_until_attested(
    run, release, environments, deployer, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    pending = result(run, critical)
    assert pending.status == "pending"
    assert (pending.source, pending.source_user) == ("person", deployer)
    assert (
        "Awaiting attestation: a critical check ticked by the release's creator" in pending.detail
    )
    decision = evaluate_gate(release, staging)
    assert decision.score == Decimal("33.3")  # only OK-001 (4 of 12) counts
    assert [b.check.code for b in decision.blockers] == ["RB-001"]
    assert (
        AuditEvent.objects.get(
            action="check.ticked", outcome="success", after__check="RB-001"
        ).after["counts"]
        is False
    )


def test_another_person_attests_it_and_it_counts(
    run, release, environments, deployer, approver2, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    attestation = attestation_record(
        actor=as_actor(approver2),
        release=release,
        environment=staging,
        check=critical,
        note="Watched the rehearsal",
    )
    assert attestation.tick.ticked_by == deployer
    attested = result(run, critical)
    assert attested.status == "pass"
    assert (attested.source_user, attested.attested_by) == (deployer, approver2)
    assert attested.detail.endswith("Attested by ben: Watched the rehearsal")
    assert evaluate_gate(release, staging).blockers == []
    event = AuditEvent.objects.get(action="check.attested")
    assert (event.actor, event.outcome, event.after["ticked_by"]) == ("ben", "success", "dana")


def test_a_deployer_other_than_the_creator_may_attest(
    run, release, environments, deployer, critical, project
):
    from ..factories import MembershipFactory, UserFactory

    dora = UserFactory(username="dora")
    MembershipFactory(project=project, user=dora, role="deployer")
    tick(deployer, release, environments["staging"], critical)
    attestation_record(
        actor=as_actor(dora), release=release, environment=environments["staging"], check=critical
    )
    assert result(run, critical).attested_by == dora


def test_the_creator_cannot_attest_their_own_tick_and_the_refusal_is_audited(
    run, release, environments, deployer, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    with pytest.raises(Denied) as refused:
        attestation_record(
            actor=as_actor(deployer), release=release, environment=staging, check=critical
        )
    assert refused.value.code == "four_eyes"
    assert not Attestation.objects.exists()
    assert result(run, critical).status == "pending"
    event = AuditEvent.objects.get(action="check.attested")
    assert (event.outcome, event.actor) == ("denied", "dana")
    assert "four-eyes rule" in event.message


def test_viewers_and_pipelines_cannot_attest(
    run, release, environments, deployer, viewer, critical, project
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    token, _ = token_issue(actor=Actor.of_system("test"), name="ci", project=project)
    for actor in (as_actor(viewer), Actor.of_token(token)):
        with pytest.raises(Denied):
            attestation_record(actor=actor, release=release, environment=staging, check=critical)
    assert not Attestation.objects.exists()
    assert AuditEvent.objects.filter(action="check.attested", outcome="denied").count() == 2


def test_a_tick_that_needs_no_attestation_and_an_untick_are_refused(
    run, release, environments, deployer, approver, approver2, critical
):
    staging = environments["staging"]
    ok = critical.project.checks.get(code="OK-001")
    with pytest.raises(ValidationError) as refused:  # a high check: the creator's tick counts
        attestation_record(
            actor=as_actor(approver2), release=release, environment=staging, check=ok
        )
    assert "needs no attestation" in refused.value.message_dict["check"][0]
    tick(approver, release, staging, critical)  # ticked by someone else: counts at once
    assert result(run, critical).status == "pass"
    with pytest.raises(ValidationError):
        attestation_record(
            actor=as_actor(approver2), release=release, environment=staging, check=critical
        )
    tick(deployer, release, staging, critical, ticked=False)
    with pytest.raises(ValidationError) as refused:
        attestation_record(
            actor=as_actor(approver2), release=release, environment=staging, check=critical
        )
    assert "nothing to attest" in refused.value.message_dict["check"][0]
    assert not Attestation.objects.exists()


def test_one_attestation_per_tick(
    run, release, environments, deployer, approver, approver2, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    with pytest.raises(Conflict) as refused:
        attestation_record(
            actor=as_actor(approver), release=release, environment=staging, check=critical
        )
    assert refused.value.code == "already_attested"
    assert Attestation.objects.count() == 1


def test_unticking_and_ticking_again_needs_a_new_attestation(
    run, release, environments, deployer, approver2, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    assert result(run, critical).status == "pass"
    tick(deployer, release, staging, critical, ticked=False)
    unticked = result(run, critical)
    assert (unticked.status, unticked.attested_by) == ("pending", None)
    tick(deployer, release, staging, critical)
    assert result(run, critical).status == "pending"  # the old attestation was for the old tick
    attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    assert result(run, critical).status == "pass"
    assert Attestation.objects.count() == 2


def test_withdrawing_an_attestation_takes_the_check_back(
    run, release, environments, deployer, approver2, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    attestation = attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    attestation_withdraw(actor=as_actor(approver2), attestation=attestation)
    withdrawn = result(run, critical)
    assert (withdrawn.status, withdrawn.attested_by) == ("pending", None)
    attestation.refresh_from_db()
    assert attestation.withdrawn_by == approver2
    assert AuditEvent.objects.filter(action="check.attestation_withdrawn").count() == 1
    attestation_withdraw(actor=as_actor(approver2), attestation=attestation)  # again: nothing
    assert AuditEvent.objects.filter(action="check.attestation_withdrawn").count() == 1
    # Attesting again is possible: the withdrawn row is history.
    attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    assert result(run, critical).status == "pass"


def test_a_new_run_reads_the_tick_and_its_attestation(
    run, release, environments, deployer, approver2, critical
):
    staging = environments["staging"]
    tick(deployer, release, staging, critical)
    attestation_record(
        actor=as_actor(approver2), release=release, environment=staging, check=critical
    )
    again, _ = run_start(actor=as_actor(deployer), release=release, environment=staging)
    run_execute(again.pk)
    fresh = result(again, critical)
    assert (fresh.status, fresh.source_user, fresh.attested_by) == ("pass", deployer, approver2)


def test_a_release_registered_by_a_pipeline_has_no_creator_to_keep_out(
    project, environments, deployer, critical
):
    token, _ = token_issue(actor=Actor.of_system("test"), name="ci", project=project)
    release = ReleaseFactory(
        project=project, version="2.0.0", created_by=None, created_by_token=token
    )
    staging = environments["staging"]
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=staging)
    run_execute(run.pk)
    tick(deployer, release, staging, critical)
    assert result(run, critical).status == "pass"
