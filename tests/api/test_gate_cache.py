"""The gate endpoint's short-lived answers: reused while nothing changed, retired by the first
committed change to the project, and never reused once they are older than the setting."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.shared_cache import shared_redis
from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import record
from checks.services.attestations import attestation_record, attestation_withdraw
from checks.services.results import tick_record
from checks.services.waivers import waiver_grant, waiver_revoke
from releases.models import Approval

from ..conftest import as_actor
from ..factories import EnvironmentFactory, ProjectFactory, ReleaseFactory
from .conftest import bearer, service_token, user_token

pytestmark = pytest.mark.django_db
GATE = "/api/v1/projects/shop/releases/1.0.0/gate/?environment=production"


@pytest.fixture
def cached(settings):
    settings.PREFLIGHT_GATE_CACHE_SECONDS = 60


def _ask(client) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(GATE)
    assert answer.status_code == 200
    return answer.json(), len(queries)


def test_a_repeat_question_is_answered_from_the_cache(
    cached, project, release, environments, passing_run
):
    client = bearer(service_token(project))
    first, computed = _ask(client)
    again, reused = _ask(client)
    assert again == first
    assert computed > 0
    assert reused == 0  # neither the token nor the gate: one Redis round trip answers


def test_an_approval_retires_the_kept_answer_when_it_commits(
    cached,
    as_user,
    approver,
    approver2,
    project,
    release,
    environments,
    passing_run,
    django_capture_on_commit_callbacks,
):
    environments["production"].requires_previous = False
    environments["production"].save()
    client = bearer(service_token(project))
    assert _ask(client)[0]["approvals"]["granted"] == 0
    for person in (approver, approver2):
        with django_capture_on_commit_callbacks(execute=True):
            as_user(person).post(
                "/api/v1/projects/shop/releases/1.0.0/approvals/",
                {"environment": "production", "decision": "approve"},
                format="json",
            )
    body, _ = _ask(client)
    assert body["approvals"]["granted"] == 2
    assert body["allowed"] is True


def test_another_projects_changes_leave_the_answer_kept(
    cached, project, release, environments, passing_run, django_capture_on_commit_callbacks
):
    client = bearer(service_token(project))
    _ask(client)
    with django_capture_on_commit_callbacks(execute=True):
        record(actor=Actor.of_system("x"), action="elsewhere", project_id=project.pk + 1)
    assert _ask(client)[1] == 0


def test_answers_are_not_kept_when_the_setting_is_zero(project, release, environments, passing_run):
    client = bearer(service_token(project))
    _ask(client)  # the token's last-used time is written on first use
    assert _ask(client)[1] == _ask(client)[1] > 2


def _forget_answers_in_redis() -> None:
    client = shared_redis()
    for key in client.scan_iter("gate-answer:*"):
        client.delete(key)


def test_a_service_tokens_repeat_poll_is_answered_from_the_process(
    cached, project, release, environments, passing_run
):
    client = bearer(service_token(project))
    first, _ = _ask(client)
    _forget_answers_in_redis()
    again, queries = _ask(client)
    assert again == first
    assert queries == 0  # the token's round trip brought the state; the answer was in memory


def test_a_user_token_reads_the_state_and_sees_a_change(
    cached, project, release, environments, passing_run, viewer, django_capture_on_commit_callbacks
):
    client = bearer(user_token(viewer))
    _ask(client)
    with django_capture_on_commit_callbacks(execute=True):
        record(actor=Actor.of_system("x"), action="changed", project_id=project.pk)
    _, queries = _ask(client)
    assert queries > 1  # the membership, then the gate computed again


def test_kept_answers_are_not_used_past_the_setting(
    settings, project, release, environments, passing_run
):
    settings.PREFLIGHT_GATE_CACHE_SECONDS = 1
    client = bearer(service_token(project))
    _ask(client)
    assert _ask(client)[1] == 0
    time.sleep(1.1)
    assert _ask(client)[1] > 0


def test_each_projects_pipeline_gets_its_own_projects_answer(
    cached, project, release, environments, passing_run, deployer
):
    other = ProjectFactory(slug="other")
    EnvironmentFactory(project=other, slug="production", required_approvals=5)
    ReleaseFactory(project=other, version="1.0.0", created_by=deployer)
    shop, theirs = bearer(service_token(project)), bearer(service_token(other, "theirs"))
    for _ in range(2):  # computed, then from memory
        assert shop.get(GATE).json()["approvals"]["required"] == 2
        answer = theirs.get(GATE.replace("/shop/", "/other/"))
        assert answer.status_code == 200
        assert answer.json()["approvals"]["required"] == 5
        assert theirs.get(GATE).status_code == 404  # and never the other project's


def test_deactivating_an_approver_retires_the_kept_answer(
    cached,
    as_user,
    approver,
    project,
    release,
    environments,
    passing_run,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        as_user(approver).post(
            "/api/v1/projects/shop/releases/1.0.0/approvals/",
            {"environment": "production", "decision": "approve"},
            format="json",
        )
    client = bearer(service_token(project))
    assert _ask(client)[0]["approvals"]["granted"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        approver.is_active = False
        approver.save()
    assert _ask(client)[0]["approvals"]["granted"] == 0


# The approved run changing in place (tick, untick, a CI report, an attestation withdrawn, a
# waiver granted, revoked or running out): a kept answer is never served once it is stale.

STAGING = "/api/v1/projects/shop/releases/1.0.0/gate/?environment=staging"


def _poll(client) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(STAGING)
    assert answer.status_code == 200
    return answer.json(), len(queries)


def _kept_open(client) -> None:
    body, _ = _poll(client)
    assert body["allowed"] is True, body
    again, queries = _poll(client)
    assert (again, queries) == (body, 0)  # from the cache from now on


def _stale_reason(body: dict) -> str:
    assert body["allowed"] is False
    return next(r["message"] for r in body["reasons"] if r["code"] == "approvals_missing")


def _untick(approved, release, deployer, **_) -> None:
    tick_record(
        actor=as_actor(deployer),
        release=release,
        environment=approved.environment,
        check=approved.checks["M-001"],
        ticked=False,
    )


def _creator_ticks_the_critical_check(approved, release, deployer, **_) -> None:
    tick_record(
        actor=as_actor(deployer),
        release=release,
        environment=approved.environment,
        check=approved.checks["C-001"],
    )


def _pipeline_reports_a_failure(approved, release, pipeline_client, **_) -> None:
    answer = pipeline_client.post(
        "/api/v1/projects/shop/check-results/",
        {"version": "1.0.0", "environment": "staging", "check": "CI-001", "status": "fail"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()


def _revoke_the_waiver(approved, approver2, **_) -> None:
    waiver_revoke(actor=as_actor(approver2), waiver=approved.waiver)


@pytest.mark.parametrize(
    ("change", "moved"),
    [
        (_untick, "M-001 pass → pending"),
        (_creator_ticks_the_critical_check, "C-001 pass → pending"),
        (_pipeline_reports_a_failure, "CI-001 pass → fail"),
        (_revoke_the_waiver, "W-001 waived → fail"),
    ],
)
def test_a_change_inside_the_approved_run_retires_the_kept_answer(
    change,
    moved,
    cached,
    approved,
    project,
    release,
    deployer,
    approver2,
    django_capture_on_commit_callbacks,
):
    pipeline = bearer(service_token(project))
    _kept_open(pipeline)
    with django_capture_on_commit_callbacks(execute=True):
        change(
            approved=approved,
            release=release,
            deployer=deployer,
            approver2=approver2,
            pipeline_client=pipeline,
        )
    body, queries = _poll(pipeline)
    assert queries > 0  # computed afresh
    assert "Approval by ana is stale: score 100.0 → " in _stale_reason(body)
    assert moved in _stale_reason(body)


def test_a_withdrawn_attestation_retires_the_kept_answer(
    cached, approved, project, release, deployer, approver2, django_capture_on_commit_callbacks
):
    critical = approved.checks["C-001"]
    tick_record(
        actor=as_actor(deployer), release=release, environment=approved.environment, check=critical
    )
    attestation = attestation_record(
        actor=as_actor(approver2), release=release, environment=approved.environment, check=critical
    )
    pipeline = bearer(service_token(project))
    _kept_open(pipeline)
    with django_capture_on_commit_callbacks(execute=True):
        attestation_withdraw(actor=as_actor(approver2), attestation=attestation)
    assert "C-001 pass → pending" in _stale_reason(_poll(pipeline)[0])


def test_a_granted_waiver_retires_the_kept_answer(
    cached, approved, project, release, approver2, django_capture_on_commit_callbacks
):
    waiver_revoke(actor=as_actor(approver2), waiver=approved.waiver)
    pipeline = bearer(service_token(project))
    closed, _ = _poll(pipeline)
    assert "W-001 waived → fail" in _stale_reason(closed)
    assert _poll(pipeline)[1] == 0
    with django_capture_on_commit_callbacks(execute=True):
        waiver_grant(
            actor=as_actor(approver2),
            release=release,
            check=approved.checks["W-001"],
            reason="accepted again",
            expires_at=timezone.now() + timedelta(days=1),
        )
    assert _poll(pipeline)[0]["allowed"] is True


def test_a_waiver_running_out_is_seen_at_once_with_nothing_audited(
    cached, approved, project, release, approver2
):
    # The waiver in force is replaced by one that runs out in two seconds.
    waiver_revoke(actor=as_actor(approver2), waiver=approved.waiver)
    short = waiver_grant(
        actor=as_actor(approver2),
        release=release,
        check=approved.checks["W-001"],
        reason="until the job is fixed",
        expires_at=timezone.now() + timedelta(seconds=2),
    )
    pipeline = bearer(service_token(project))
    _kept_open(pipeline)
    events = AuditEvent.objects.count()
    time.sleep(max(0.0, (short.expires_at - timezone.now()).total_seconds()) + 0.05)
    body, queries = _poll(pipeline)
    assert queries > 0
    assert "Approval by ana is stale: score 100.0 → 88.9; W-001 waived → fail." in _stale_reason(
        body
    )
    assert AuditEvent.objects.count() == events  # time alone, no event retired the answer


def test_an_approval_ageing_out_is_seen_at_once(cached, approved, project):
    approved.environment.approval_ttl = timedelta(seconds=2)
    approved.environment.save()
    approval = Approval.objects.get()
    Approval.objects.filter(pk=approval.pk).update(created_at=timezone.now() - timedelta(seconds=1))
    pipeline = bearer(service_token(project))
    _kept_open(pipeline)
    time.sleep(1.1)
    assert "older than the Staging approval lifetime" in _stale_reason(_poll(pipeline)[0])
