"""The gate endpoint's short-lived answers: reused while nothing changed, retired by the first
committed change to the project, and never reused once they are older than the setting."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.actors import Actor
from audit.services import record
from preflight.api.shared_cache import shared_redis

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
