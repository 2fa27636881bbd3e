"""The gate endpoint's short-lived answers: reused while nothing changed, retired by the first
committed change to the project, and never reused once they are older than the setting."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from api import gate_cache
from api.gate_answers import gate_bodies
from api.shared_cache import shared_redis
from api.views.gate import gate_body
from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import record
from checks.models import ReadinessRun
from checks.services.attestations import attestation_record, attestation_withdraw
from checks.services.results import tick_record
from checks.services.waivers import waiver_grant, waiver_revoke
from releases.models import Approval, FreezeWindow, Membership
from releases.services.locks import lock_acquire, lock_release

from ..conftest import as_actor
from ..factories import (
    EnvironmentFactory,
    ProjectFactory,
    ReleaseFactory,
    RunFactory,
    UserFactory,
)
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
    assert queries == 0  # answered again as the change committed (written through)
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


# Written through: a change answers the questions polled lately again as it commits.


def test_a_change_answers_the_questions_polled_lately_again_as_it_commits(
    cached, admin, project, release, environments, passing_run, django_capture_on_commit_callbacks
):
    pipeline = bearer(service_token(project))
    before, computed = _ask(pipeline)
    assert computed > 0
    assert "locked" not in [r["code"] for r in before["reasons"]]
    with django_capture_on_commit_callbacks(execute=True):
        lock_acquire(actor=as_actor(admin), environment=environments["production"], reason="db")
    after, queries = _ask(pipeline)
    assert queries == 0  # the change's process computed it, after its commit
    assert "locked" in [r["code"] for r in after["reasons"]]
    # What was written through is what the gate says now, computed afresh.
    fresh = gate_body(project, "1.0.0", "production")[0]
    assert after == json.loads(JSONRenderer().render(fresh))


def test_a_question_nobody_asked_lately_is_not_computed_by_a_change(
    cached, admin, project, release, environments, passing_run, django_capture_on_commit_callbacks
):
    pipeline = bearer(service_token(project))
    _ask(pipeline)
    shared_redis().hset(
        f"gate-asked:{project.pk}",
        "1.0.0\nproduction",
        time.time() - gate_cache.ASKED_SECONDS - 1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        lock_acquire(actor=as_actor(admin), environment=environments["production"], reason="db")
    after, queries = _ask(pipeline)
    assert queries > 0
    assert "locked" in [r["code"] for r in after["reasons"]]


@pytest.mark.parametrize("kind", ["approved", "locked", "frozen", "no run", "running"])
def test_the_answers_written_through_are_the_gates_own(
    kind, cached, admin, approved, project, release, environments
):
    """gate_bodies, which a change's process answers with, says what gate_body says."""
    staging = environments["staging"]
    if kind == "locked":
        lock_acquire(actor=as_actor(admin), environment=staging, reason="incident")
    elif kind == "frozen":
        FreezeWindow.objects.create(
            environment=staging,
            starts_at=timezone.now() - timedelta(hours=1),
            ends_at=timezone.now() + timedelta(hours=1),
            reason="holiday",
        )
    elif kind == "no run":
        ReadinessRun.objects.filter(release=release, environment=staging).delete()
    elif kind == "running":
        RunFactory(release=release, environment=staging, status="running")
    asked = [(v, e) for v in ("1.0.0", "9.9.9") for e in ("staging", "production", "nowhere")]
    together = gate_bodies(project.pk, asked)
    assert set(together) == {("1.0.0", "staging"), ("1.0.0", "production")}
    for version, slug in together:
        assert together[version, slug] == gate_body(project, version, slug)


def test_a_poll_waits_for_the_answer_a_change_is_computing(
    cached, project, release, environments, passing_run
):
    pipeline = bearer(service_token(project))
    _ask(pipeline)
    redis = shared_redis()
    keys = f"{project.pk}:1.0.0:production"
    redis.set(f"gate-state:{project.pk}", "being-filled")
    redis.set(f"gate-filling:{keys}", "being-filled", ex=5)
    written = {"allowed": False, "reasons": [{"code": "written", "message": "by the change"}]}

    def change_process() -> None:
        time.sleep(0.1)
        redis.set(
            f"gate-answer:{keys}",
            json.dumps(
                {"state": "being-filled", "until": time.time() + 60, "body": json.dumps(written)}
            ),
        )

    writer = threading.Thread(target=change_process)
    writer.start()
    started = time.perf_counter()
    body, queries = _ask(pipeline)
    writer.join()
    assert (body, queries) == (written, 0)
    assert time.perf_counter() - started >= 0.1


def test_a_poll_computes_its_own_answer_when_the_change_never_writes_it(
    cached, project, release, environments, passing_run
):
    pipeline = bearer(service_token(project))
    first, _ = _ask(pipeline)
    redis = shared_redis()
    redis.set(f"gate-state:{project.pk}", "abandoned")
    redis.set(f"gate-filling:{project.pk}:1.0.0:production", "abandoned", ex=5)
    started = time.perf_counter()
    body, queries = _ask(pipeline)
    assert body == first
    assert queries > 0
    assert gate_cache.FILL_WAIT_SECONDS <= time.perf_counter() - started < 2


# Under concurrency: pipelines poll over HTTP while an environment is locked and unlocked.
# A poll that starts after a change's request returned never gets the answer from before it.

CHANGES = 40


@pytest.mark.django_db(transaction=True)
def test_no_poll_after_a_change_returned_gets_the_answer_from_before_it(settings, live_server):
    settings.PREFLIGHT_GATE_CACHE_SECONDS = 60
    environment = EnvironmentFactory(slug="production", required_approvals=0, min_score=0)
    project = environment.project
    admin = UserFactory(username="root")
    Membership.objects.create(project=project, user=admin, role="admin")
    ReleaseFactory(project=project, version="1.0.0", created_by=admin)
    token = service_token(project)
    url = f"{live_server.url}/api/v1/projects/{project.slug}/releases/1.0.0/gate/?environment=production"
    stop = threading.Event()
    polls: list[tuple[float, float, bool]] = []  # started, ended, locked in the answer

    def poll() -> None:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        while not stop.is_set():
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=10) as answer:
                body = json.loads(answer.read())
            codes = [r["code"] for r in body["reasons"]]
            polls.append((started, time.monotonic(), "locked" in codes))

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for poller in pollers:
        poller.start()
    changes: list[tuple[float, float, bool]] = []  # called, returned, locked after it
    actor = as_actor(admin)
    try:
        for n in range(CHANGES):
            time.sleep(0.01 + 0.02 * (n % 3))
            called = time.monotonic()
            if n % 2 == 0:
                lock_acquire(actor=actor, environment=environment, reason="churn")
            else:
                lock_release(actor=actor, environment=environment)
            changes.append((called, time.monotonic(), n % 2 == 0))
        time.sleep(0.05)
    finally:
        stop.set()
        for poller in pollers:
            poller.join()
    checked = 0
    for started, ended, locked in polls:
        before = [c for c in changes if c[1] < started]
        if not before:
            continue
        _, _, expected = before[-1]
        later = [c for c in changes if c[0] > before[-1][1]]
        if later and ended > later[0][0]:
            continue  # the next change was under way: either answer is right
        assert locked == expected, f"poll at {started:.3f} got the answer from before a change"
        checked += 1
    assert checked > CHANGES  # most changes were followed by polls that saw them
