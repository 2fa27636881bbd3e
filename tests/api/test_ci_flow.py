"""The acceptance path of the issue, through the API as a pipeline and two release managers
walk it: release → run → gate closed with reasons → two approvals → gate open → deploy (a second
deploy meanwhile gets 409) → finish → verified. Tasks are called directly, as a worker would."""

from __future__ import annotations

import pytest

from checks.models import ReadinessRun
from checks.services.runs import run_execute

from ..factories import CategoryFactory, CheckFactory

pytestmark = pytest.mark.django_db
P = "/api/v1/projects/shop"


def test_release_to_verified_production_deployment(
    ci, as_user, approver, approver2, project, environments, django_capture_on_commit_callbacks
):
    production = environments["production"]
    production.requires_previous = False
    production.save()
    category = CategoryFactory(project=project, key="ci", weight=100)
    CheckFactory(project=project, category=category, code="CI-001", severity="critical", kind="ci")
    CheckFactory(project=project, category=category, code="SMOKE-1", phase="post", kind="ci")

    def report(check: str) -> None:
        answer = ci.post(
            f"{P}/check-results/",
            {"version": "3.0.0", "environment": "production", "check": check, "status": "pass"},
            format="json",
        )
        assert answer.status_code == 201, answer.json()

    def gate() -> dict:
        return ci.get(f"{P}/releases/3.0.0/gate/", {"environment": "production"}).json()

    assert (
        ci.post(
            f"{P}/releases/", {"version": "3.0.0", "git_sha": "abc1234"}, format="json"
        ).status_code
        == 201
    )
    report("CI-001")
    with django_capture_on_commit_callbacks(execute=True):
        queued = ci.post(
            f"{P}/releases/3.0.0/runs/", {"environment": "production"}, format="json"
        ).json()
    run_execute(queued["id"])
    run = ci.get(f"/api/v1/runs/{queued['id']}/").json()
    assert (run["status"], run["score"]) == ("finished", 100.0)

    closed = gate()
    assert closed["allowed"] is False
    assert [r["code"] for r in closed["reasons"]] == ["approvals_missing"]

    for person in (approver, approver2):
        answer = as_user(person).post(
            f"{P}/releases/3.0.0/approvals/",
            {"environment": "production", "decision": "approve"},
            format="json",
        )
        assert answer.status_code == 201
    opened = gate()
    assert opened["allowed"] is True
    assert opened["approvals"] == {"required": 2, "granted": 2, "rejected": 0}

    body = {"version": "3.0.0", "environment": "production", "strategy": "blue-green"}
    deployment = ci.post(f"{P}/deployments/", body, format="json")
    assert deployment.status_code == 201
    meanwhile = ci.post(f"{P}/deployments/", body, format="json")
    assert meanwhile.status_code == 409
    assert meanwhile.json()["code"] == "environment_busy"

    report("SMOKE-1")
    with django_capture_on_commit_callbacks(execute=True):
        finished = ci.post(
            f"/api/v1/deployments/{deployment.json()['id']}/finish/",
            {"status": "succeeded"},
            format="json",
        )
    assert finished.json()["status"] == "succeeded"
    verification = ReadinessRun.objects.get(kind="verification")
    with django_capture_on_commit_callbacks(execute=True):
        run_execute(verification.pk)

    state = ci.get(f"{P}/releases/3.0.0/").json()
    production_state = next(e for e in state["environments"] if e["environment"] == "production")
    assert production_state["latest_deployment"]["status"] == "verified"
