from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.actors import Actor
from audit.models import AuditEvent
from checks.gate import evaluate_gate
from checks.services.approvals import approval_record
from core.errors import Denied
from releases.models import Approval, Membership
from releases.services.tokens import token_issue

from ..conftest import as_actor

pytestmark = pytest.mark.django_db


def _approve(actor, release, environment, decision="approve", comment=""):
    return approval_record(
        actor=actor, release=release, environment=environment, decision=decision, comment=comment
    )


def test_an_approver_approves(release, environments, approver):
    approval = _approve(as_actor(approver), release, environments["production"])
    assert approval.decision == "approve"
    event = AuditEvent.objects.get(action="approval.recorded")
    assert event.outcome == "success"
    assert event.actor == "ana"


def test_the_creator_cannot_approve_their_own_release(release, environments, deployer):
    Membership.objects.filter(user=deployer).update(role="approver")
    with pytest.raises(Denied, match="four-eyes") as refused:
        _approve(as_actor(deployer), release, environments["production"])
    assert refused.value.code == "four_eyes"
    assert not Approval.objects.exists()
    event = AuditEvent.objects.get(action="approval.recorded")
    assert event.outcome == "denied"
    assert "four-eyes" in event.message


def test_the_creator_cannot_approve_even_as_admin(release, environments, deployer):
    Membership.objects.filter(user=deployer).update(role="admin")
    with pytest.raises(Denied, match="four-eyes"):
        _approve(as_actor(deployer), release, environments["production"])


def test_the_creator_cannot_approve_through_their_api_token(release, environments, deployer):
    Membership.objects.filter(user=deployer).update(role="approver")
    token, _ = token_issue(actor=Actor.of_system("test"), name="laptop", user=deployer)
    with pytest.raises(Denied, match="four-eyes"):
        _approve(Actor.of_token(token), release, environments["production"])


def test_the_creator_cannot_reject_either(release, environments, deployer):
    Membership.objects.filter(user=deployer).update(role="approver")
    with pytest.raises(Denied):
        _approve(as_actor(deployer), release, environments["production"], "reject", "no")


def test_a_release_registered_by_a_users_token_names_that_user_as_creator(
    project, environments, approver
):
    from releases.services.releases import release_register

    token, _ = token_issue(actor=Actor.of_system("test"), name="laptop", user=approver)
    release, _ = release_register(
        actor=Actor.of_token(token), project=project, version="2.0.0", git_sha="abcdef1"
    )
    assert release.created_by == approver
    with pytest.raises(Denied, match="four-eyes"):
        _approve(as_actor(approver), release, environments["production"])


def test_a_creator_approval_slipped_into_the_database_does_not_count(
    release, environments, deployer, approver, passing_run
):
    production = environments["production"]
    Approval.objects.create(
        release=release,
        environment=production,
        approver=deployer,
        decision="approve",
        run=passing_run["production"],
    )
    _approve(as_actor(approver), release, production)
    approvals = evaluate_gate(release, production).approvals
    assert approvals.granted == ("ana",)
    assert approvals.not_counted == (("dana", "created the release (four-eyes rule)"),)


def test_service_tokens_cannot_approve(project, release, environments):
    token, _ = token_issue(actor=Actor.of_system("test"), name="ci", project=project)
    with pytest.raises(Denied):
        _approve(Actor.of_token(token), release, environments["production"])


@pytest.mark.parametrize("role", ["viewer", "deployer"])
def test_only_approvers_and_admins_approve(release, environments, viewer, role):
    Membership.objects.filter(user=viewer).update(role=role)
    with pytest.raises(Denied, match=f"vic \\({role}\\) may not approve"):
        _approve(as_actor(viewer), release, environments["production"])
    assert AuditEvent.objects.filter(outcome="denied").count() == 1


def test_outsiders_cannot_approve(release, environments, outsider):
    with pytest.raises(Denied, match="not a member"):
        _approve(as_actor(outsider), release, environments["production"])


def test_a_rejection_needs_a_comment(release, environments, approver):
    with pytest.raises(ValidationError) as invalid:
        _approve(as_actor(approver), release, environments["production"], "reject", "   ")
    assert "comment" in invalid.value.message_dict
    assert not Approval.objects.exists()


def test_an_unknown_decision_is_refused(release, environments, approver):
    with pytest.raises(ValidationError) as invalid:
        _approve(as_actor(approver), release, environments["production"], "maybe")
    assert "decision" in invalid.value.message_dict


def test_an_environment_of_another_project_is_refused(release, approver):
    from ..factories import EnvironmentFactory

    elsewhere = EnvironmentFactory()
    with pytest.raises(ValidationError):
        _approve(as_actor(approver), release, elsewhere)


def test_a_persons_latest_decision_counts(release, environments, approver, approver2, passing_run):
    production = environments["production"]
    _approve(as_actor(approver), release, production)
    _approve(as_actor(approver2), release, production)
    assert evaluate_gate(release, production).approvals.granted == ("ana", "ben")

    _approve(as_actor(approver), release, production, "reject", "found a bug")
    approvals = evaluate_gate(release, production).approvals
    assert approvals.granted == ("ben",)
    assert approvals.rejected == (("ana", "found a bug"),)

    _approve(as_actor(approver), release, production)
    assert evaluate_gate(release, production).approvals.granted == ("ana", "ben")


def test_the_same_person_approving_twice_counts_once(release, environments, approver, passing_run):
    production = environments["production"]
    _approve(as_actor(approver), release, production)
    _approve(as_actor(approver), release, production)
    approvals = evaluate_gate(release, production).approvals
    assert approvals.granted == ("ana",)
    assert approvals.missing == 1


def test_an_approver_who_lost_the_role_no_longer_counts(
    release, environments, approver, passing_run
):
    production = environments["production"]
    _approve(as_actor(approver), release, production)
    Membership.objects.filter(user=approver).update(role="viewer")
    approvals = evaluate_gate(release, production).approvals
    assert approvals.granted == ()
    assert approvals.not_counted[0][0] == "ana"
