"""Evidence over the API: ci results only from the project's pipelines (403 not_a_pipeline for
people, sessions and unlisted services; another project's token is 404 as anywhere), each run
result with who produced it, and a release's approvals that went stale with what moved."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.actors import Actor
from audit.models import AuditEvent
from checks.models import CheckResult, ReportedResult
from checks.services.attestations import attestation_record
from checks.services.results import ci_result_record, tick_record

from ..conftest import as_actor
from ..factories import MembershipFactory, ProjectFactory, UserFactory
from .conftest import bearer, service_token, user_token

pytestmark = pytest.mark.django_db

REPORT = "/api/v1/projects/shop/check-results/"
BODY = {"version": "1.0.0", "environment": "staging", "check": "CI-001", "status": "pass"}


def _refused(client: APIClient) -> dict:
    answer = client.post(REPORT, BODY, format="json")
    assert answer.status_code == 403, answer.json()
    body = answer.json()
    assert body["code"] == "not_a_pipeline"
    assert not ReportedResult.objects.exists()
    return body


def test_the_creators_user_token_is_not_a_pipeline(release, environments, ci_check, deployer):
    body = _refused(bearer(user_token(deployer)))
    assert "come from the project's pipelines" in body["detail"]
    event = AuditEvent.objects.get(action="check.reported")
    assert (event.outcome, event.actor) == ("denied", "token:laptop for dana")


def test_another_deployers_and_an_approvers_user_tokens_are_not_pipelines(
    project, release, environments, ci_check, approver
):
    dora = UserFactory(username="dora")
    MembershipFactory(project=project, user=dora, role="deployer")
    _refused(bearer(user_token(dora)))
    _refused(bearer(user_token(approver)))
    assert AuditEvent.objects.filter(action="check.reported", outcome="denied").count() == 2


def test_a_browser_session_is_not_a_pipeline(release, environments, ci_check, admin):
    admin.save()  # the factory hashes the password without saving it; the session checks it
    session = APIClient()
    session.force_login(admin)
    assert "browser session" in _refused(session)["detail"]


def test_another_projects_service_token_is_answered_404(release, environments, ci_check):
    answer = bearer(service_token(ProjectFactory(slug="elsewhere"))).post(
        REPORT, BODY, format="json"
    )
    assert answer.status_code == 404
    assert not ReportedResult.objects.exists()


def test_a_check_naming_its_services_refuses_the_others(project, release, environments, ci_check):
    ci_check.config = {"services": ["github-actions"]}
    ci_check.save()
    body = _refused(bearer(service_token(project, "nightly")))
    assert body["detail"] == "CI-001 accepts results from github-actions only, not from nightly."
    answer = bearer(service_token(project, "github-actions")).post(REPORT, BODY, format="json")
    assert answer.status_code == 201
    assert answer.json()["reported_by"] == "token:github-actions"


def test_each_run_result_says_who_produced_it(
    as_user, viewer, approved, release, deployer, approver2
):
    critical = approved.checks["C-001"]
    tick_record(
        actor=as_actor(deployer), release=release, environment=approved.environment, check=critical
    )
    attestation_record(
        actor=as_actor(approver2), release=release, environment=approved.environment, check=critical
    )
    CheckResult.objects.filter(run=approved.run, check_item=approved.checks["W-001"]).update(
        source="legacy", source_token=None
    )
    body = as_user(viewer).get(f"/api/v1/runs/{approved.run.pk}/").json()
    sources = {r["check"]: r["source"] for r in body["results"]}
    assert sources == {
        "M-001": {"kind": "person", "user": "dana", "token": None, "attested_by": None},
        "C-001": {"kind": "person", "user": "dana", "token": None, "attested_by": "ben"},
        "CI-001": {
            "kind": "pipeline",
            "user": None,
            "token": "github-actions",
            "attested_by": None,
        },
        "W-001": {"kind": "legacy", "user": None, "token": None, "attested_by": None},
    }
    statuses = {r["check"]: r["status"] for r in body["results"]}
    assert statuses["W-001"] == "waived"  # a legacy result keeps its status


def test_the_release_names_approvals_that_went_stale_and_what_moved(
    as_user, viewer, approved, release
):
    client = as_user(viewer)
    staging = next(
        e
        for e in client.get("/api/v1/projects/shop/releases/1.0.0/").json()["environments"]
        if e["environment"] == "staging"
    )
    assert (staging["approvals"], staging["stale_approvals"]) == (1, [])
    ci_result_record(
        actor=Actor.of_token(approved.pipeline),
        release=release,
        environment=approved.environment,
        check=approved.checks["CI-001"],
        status="error",
    )
    environments = client.get("/api/v1/projects/shop/releases/1.0.0/").json()["environments"]
    staging = next(e for e in environments if e["environment"] == "staging")
    assert staging["approvals"] == 1  # the decision stands ...
    assert staging["stale_approvals"] == [  # ... but no longer counts
        {"approver": "ana", "reason": "score 100.0 → 77.8; CI-001 pass → error"}
    ]
    assert all(e["stale_approvals"] == [] for e in environments if e["environment"] != "staging")


def test_a_viewers_token_is_refused_as_not_a_pipeline_too(release, environments, ci_check, viewer):
    _refused(bearer(user_token(viewer)))
