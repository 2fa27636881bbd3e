"""Each GET endpoint costs the same number of queries with 1 and with 500 releases, checks,
results, approvals and audit events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.actors import Actor
from audit.services import record
from checks.models import Check, CheckResult
from releases.models import Approval, Deployment, Membership, Release
from releases.services.tokens import token_issue

from ..factories import UserFactory
from .conftest import bearer, user_token

pytestmark = pytest.mark.django_db
MANY = 500


def _grow(project, release, environments, run, viewer) -> None:
    """From one of each to MANY of each."""
    category = run.results.first().category
    Release.objects.bulk_create(
        Release(project=project, version=f"9.{n}.0", git_sha="abcdef1") for n in range(MANY)
    )
    checks = Check.objects.bulk_create(
        Check(
            project=project,
            category=category,
            code=f"BULK-{n}",
            title="t",
            severity="critical",
            kind="ci",
        )
        for n in range(MANY)
    )
    pipeline = token_issue(actor=Actor.of_system("test"), name="pipeline", project=project)[0]
    CheckResult.objects.bulk_create(
        CheckResult(
            run=run,
            check_item=c,
            category=category,
            severity=c.severity,
            status="fail",
            source=["person", "pipeline"][n % 2],
            source_user=viewer if n % 2 == 0 else None,
            source_token=pipeline if n % 2 == 1 else None,
            attested_by=viewer if n % 4 == 0 else None,
        )
        for n, c in enumerate(checks)
    )
    approvers = [UserFactory(username=f"approver-{n}") for n in range(20)]
    Membership.objects.bulk_create(
        Membership(project=project, user=u, role="approver") for u in approvers
    )
    Approval.objects.bulk_create(
        Approval(
            release=release,
            environment=run.environment,
            approver=u,
            decision="approve",
            run=run,
            score=100,
            evidence={c.code: "pass" for c in checks},
        )
        for u in approvers
    )
    start = timezone.now() - timedelta(days=30)
    Deployment.objects.bulk_create(
        Deployment(
            release=release,
            environment=environments["development"],
            status="failed",
            started_at=start + timedelta(minutes=n),
        )
        for n in range(MANY)
    )
    for n in range(MANY):
        record(
            actor=Actor.of_user(viewer), action="test.event", project_id=project.pk, after={"n": n}
        )


def _count(client, url: str) -> int:
    client.get(url)  # warm: the token's last-used time is written at most once a minute
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url)
    assert answer.status_code == 200, answer.json()
    return len(queries)


def test_get_endpoints_cost_the_same_with_1_and_500_rows(
    project, release, environments, passing_run, viewer
):
    run = passing_run["staging"]
    client = bearer(user_token(viewer))
    urls = {
        "release": "/api/v1/projects/shop/releases/1.0.0/",
        "run": f"/api/v1/runs/{run.pk}/",
        "gate": "/api/v1/projects/shop/releases/1.0.0/gate/?environment=staging",
        "audit": "/api/v1/projects/shop/audit-events/",
        "audit_filtered": "/api/v1/projects/shop/audit-events/?action=test.event&limit=100",
    }
    # One of each to start with.
    record(actor=Actor.of_user(viewer), action="test.event", project_id=project.pk)
    Deployment.objects.create(
        release=release, environment=environments["development"], status="failed"
    )
    first = UserFactory(username="first-approver")
    Membership.objects.create(project=project, user=first, role="approver")
    Approval.objects.create(
        release=release, environment=run.environment, approver=first, decision="approve", run=run
    )
    few = {name: _count(client, url) for name, url in urls.items()}
    _grow(project, release, environments, run, viewer)
    many = {name: _count(client, url) for name, url in urls.items()}
    assert many == few
    # and the answers did grow
    assert len(client.get(urls["run"]).json()["results"]) == MANY + 1
    assert len(client.get(urls["audit_filtered"]).json()["results"]) == 100
    sources = {r["source"]["kind"] for r in client.get(urls["run"]).json()["results"]}
    assert sources == {"worker", "person", "pipeline"}
    staging = next(
        e
        for e in client.get(urls["release"]).json()["environments"]
        if e["environment"] == "staging"
    )
    assert len(staging["stale_approvals"]) == 21  # every approver: the evidence got worse
