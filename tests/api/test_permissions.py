"""Each role and token kind × each endpoint. Members get what their role allows (403 beyond
it), outsiders and other projects' service tokens get 404, and no credentials get 401."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backups.models import Database, RestoreDrill

from ..factories import DeploymentFactory, ProjectFactory, ReleaseFactory
from .conftest import bearer, service_token, user_token

pytestmark = pytest.mark.django_db

MEMBERS = ("viewer", "deployer", "approver", "admin")
EVERYONE = (*MEMBERS, "ci")
WRITERS = ("deployer", "approver", "admin", "ci")  # register, run, report, deploy, roll back


def _endpoints(world):
    d = world["deployment"].pk
    run = world["run"].pk
    return {
        "release_register": (
            "post",
            "/api/v1/projects/shop/releases/",
            {"version": "5.0.0", "git_sha": "abcdef1"},
            WRITERS,
            {201},
        ),
        "release_read": ("get", "/api/v1/projects/shop/releases/1.0.0/", None, EVERYONE, {200}),
        "run_start": (
            "post",
            "/api/v1/projects/shop/releases/1.0.0/runs/",
            {"environment": "staging"},
            WRITERS,
            {202},
        ),
        "run_read": ("get", f"/api/v1/runs/{run}/", None, EVERYONE, {200}),
        "gate_read": (
            "get",
            "/api/v1/projects/shop/releases/1.0.0/gate/?environment=production",
            None,
            EVERYONE,
            {200},
        ),
        "approval_record": (
            "post",
            "/api/v1/projects/shop/releases/1.0.0/approvals/",
            {"environment": "production", "decision": "approve"},
            ("approver", "admin"),
            {201},
        ),
        "check_result_report": (
            "post",
            "/api/v1/projects/shop/check-results/",
            {"version": "1.0.0", "environment": "staging", "check": "CI-001", "status": "pass"},
            ("ci",),  # evidence from pipelines only: people are refused (not_a_pipeline)
            {201},
        ),
        "deployment_start": (
            "post",
            "/api/v1/projects/shop/deployments/",
            {"version": "1.0.0", "environment": "development"},
            WRITERS,
            {201},
        ),
        "deployment_finish": (
            "post",
            f"/api/v1/deployments/{d}/finish/",
            {"status": "failed"},
            WRITERS,
            {200},
        ),
        "deployment_rollback": (
            "post",
            f"/api/v1/deployments/{d}/rollback/",
            {"reason": "errors"},
            WRITERS,
            {201},
        ),
        "backup_report": (
            "post",
            "/api/v1/projects/shop/backups/",
            {"database": "pos", "started_at": timezone.now().isoformat()},
            WRITERS,
            {201},
        ),
        "drill_start": (
            "post",
            "/api/v1/projects/shop/databases/pos/drills/",
            {},
            ("approver", "admin"),
            {202},
        ),
        "drill_read": ("get", f"/api/v1/drills/{world['drill'].pk}/", None, EVERYONE, {200}),
        "audit_events_list": (
            "get",
            "/api/v1/projects/shop/audit-events/",
            None,
            EVERYONE,
            {200},
        ),
    }


ENDPOINTS = (
    "release_register",
    "release_read",
    "run_start",
    "run_read",
    "gate_read",
    "approval_record",
    "check_result_report",
    "deployment_start",
    "deployment_finish",
    "deployment_rollback",
    "backup_report",
    "drill_start",
    "drill_read",
    "audit_events_list",
)
PRINCIPALS = (*MEMBERS, "outsider", "ci", "other_ci", "anonymous")


@pytest.fixture
def world(project, release, environments, passing_run, ci_check, request):
    for name in (*MEMBERS, "outsider"):
        request.getfixturevalue(name)
    database = Database.objects.create(project=project, name="pos", dsn_env="POS_DATABASE_URL")
    drill = RestoreDrill.objects.create(database=database)
    good = ReleaseFactory(project=project, version="0.9.0")
    staging = environments["staging"]
    DeploymentFactory(
        release=good,
        environment=staging,
        status="verified",
        started_at=timezone.now() - timedelta(days=2),
    )
    deployment = DeploymentFactory(release=release, environment=staging, status="in_progress")
    return {"deployment": deployment, "run": passing_run["staging"], "drill": drill}


def _client(principal: str, project, request) -> APIClient:
    if principal == "anonymous":
        return APIClient()
    if principal == "ci":
        return bearer(service_token(project))
    if principal == "other_ci":
        return bearer(service_token(ProjectFactory(slug="elsewhere")))
    return bearer(user_token(request.getfixturevalue(principal)))


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_permission_matrix(endpoint, principal, world, project, request):
    method, url, body, allowed, success = _endpoints(world)[endpoint]
    client = _client(principal, project, request)
    answer = (
        getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    )
    if principal == "anonymous":
        expected = {401}
    elif principal in ("outsider", "other_ci"):
        expected = {404}
    elif principal in allowed:
        expected = success
    else:
        expected = {403}
    assert answer.status_code in expected, (endpoint, principal, answer.json())
    assert set(answer.json()) >= ({"code", "detail"} if answer.status_code >= 400 else set())
    if answer.status_code == 401:
        assert answer["WWW-Authenticate"].startswith("Bearer")


def test_service_tokens_never_approve_waive_or_override():
    """The ci role's permissions, from the one place that grants them."""
    from releases.access import CI_ROLE, Permission, permissions_of

    granted = permissions_of(CI_ROLE)
    assert Permission.APPROVE not in granted
    assert Permission.WAIVE not in granted
    assert Permission.OVERRIDE not in granted
    assert Permission.TICK not in granted
    assert Permission.ATTEST not in granted
