from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audit.actors import Actor
from releases.models import Environment, Membership, Project, Release

from .factories import (
    CategoryFactory,
    CheckFactory,
    DeploymentFactory,
    EnvironmentFactory,
    ProjectFactory,
    ReleaseFactory,
    ResultFactory,
    RunFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def audit_anchor_store(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Every test anchors the audit chain into a store and with a key of its own."""
    settings.PREFLIGHT_AUDIT_ANCHOR_DIR = tmp_path / "audit-anchors"
    settings.PREFLIGHT_AUDIT_ANCHOR_KEY = secrets.token_urlsafe(50)
    settings.PREFLIGHT_AUDIT_ANCHOR_S3_BUCKET = ""
    return settings.PREFLIGHT_AUDIT_ANCHOR_DIR


@pytest.fixture
def project() -> Project:
    return ProjectFactory(slug="shop", name="Shop")


@pytest.fixture
def environments(project: Project) -> dict[str, Environment]:
    return {
        "development": EnvironmentFactory(
            project=project,
            slug="development",
            position=0,
            required_approvals=0,
            min_score=Decimal(50),
        ),
        "staging": EnvironmentFactory(
            project=project,
            slug="staging",
            position=1,
            required_approvals=1,
            requires_previous=True,
        ),
        "production": EnvironmentFactory(
            project=project,
            slug="production",
            position=2,
            required_approvals=2,
            requires_previous=True,
        ),
    }


def _member(project: Project, username: str, role: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username)
    Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def admin(project):  # type: ignore[no-untyped-def]
    return _member(project, "root", "admin")


@pytest.fixture
def approver(project):  # type: ignore[no-untyped-def]
    return _member(project, "ana", "approver")


@pytest.fixture
def approver2(project):  # type: ignore[no-untyped-def]
    return _member(project, "ben", "approver")


@pytest.fixture
def deployer(project):  # type: ignore[no-untyped-def]
    return _member(project, "dana", "deployer")


@pytest.fixture
def viewer(project):  # type: ignore[no-untyped-def]
    return _member(project, "vic", "viewer")


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="olga")


@pytest.fixture
def release(project, deployer) -> Release:  # type: ignore[no-untyped-def]
    return ReleaseFactory(project=project, version="1.0.0", created_by=deployer)


def as_actor(user) -> Actor:  # type: ignore[no-untyped-def]
    return Actor.of_user(user)


@pytest.fixture
def passing_run(release, environments):  # type: ignore[no-untyped-def]
    """A finished readiness run for 1.0.0 in every environment, every check passing."""

    category = CategoryFactory(project=release.project, key="all", weight=100)
    check = CheckFactory(project=release.project, category=category, code="OK-001")
    runs = {}
    for slug, environment in environments.items():
        run = RunFactory(release=release, environment=environment, score=Decimal(100))
        ResultFactory(run=run, check_item=check, status="pass")
        runs[slug] = run
    return runs


@dataclass
class Approved:
    """A release approved on a real run whose evidence comes from every source."""

    run: Any  # checks.ReadinessRun
    environment: Environment
    checks: dict[str, Any]  # code → checks.Check
    pipeline: Any  # the service token that reported (releases.ApiToken)
    waiver: Any  # checks.Waiver


@pytest.fixture
def approved(project, release, environments, deployer, approver, approver2) -> Approved:  # type: ignore[no-untyped-def]
    """1.0.0 may go to staging: a real readiness run where M-001 (manual, high) is ticked by
    dana (who registered the release), C-001 (manual, critical) is ticked by ben, the pipeline
    reported CI-001 (ci, high) passing and W-001 (ci, medium) failing, and ben waived W-001.
    Score 100.0; ana approved it; it has succeeded in development."""
    from checks.gate import evaluate_gate
    from checks.services.approvals import approval_record
    from checks.services.results import ci_result_record, tick_record
    from checks.services.runs import run_execute, run_start
    from checks.services.waivers import waiver_grant
    from releases.services.tokens import token_issue

    staging = environments["staging"]
    DeploymentFactory(release=release, environment=environments["development"], status="verified")
    category = CategoryFactory(project=project, key="all", weight=100)
    checks = {
        code: CheckFactory(
            project=project,
            category=category,
            code=code,
            kind=kind,
            severity=severity,
            in_checklist=kind == "manual",
        )
        for code, kind, severity in (
            ("M-001", "manual", "high"),
            ("C-001", "manual", "critical"),
            ("CI-001", "ci", "high"),
            ("W-001", "ci", "medium"),
        )
    }
    pipeline, _ = token_issue(actor=Actor.of_system("test"), name="github-actions", project=project)
    tick_record(
        actor=as_actor(deployer), release=release, environment=staging, check=checks["M-001"]
    )
    tick_record(
        actor=as_actor(approver2), release=release, environment=staging, check=checks["C-001"]
    )
    for code, status in (("CI-001", "pass"), ("W-001", "fail")):
        ci_result_record(
            actor=Actor.of_token(pipeline),
            release=release,
            environment=staging,
            check=checks[code],
            status=status,
        )
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=staging)
    run_execute(run.pk)
    run.refresh_from_db()
    waiver = waiver_grant(
        actor=as_actor(approver2),
        release=release,
        check=checks["W-001"],
        reason="Flaky lint job, fixed next sprint",
        expires_at=timezone.now() + timedelta(days=7),
    )
    approval_record(
        actor=as_actor(approver), release=release, environment=staging, decision="approve"
    )
    gate = evaluate_gate(release, staging)
    assert gate.allowed, gate.reasons
    assert gate.score == Decimal("100.0")
    return Approved(run=run, environment=staging, checks=checks, pipeline=pipeline, waiver=waiver)


@pytest.fixture(scope="session")
def _prometheus_and_exporter() -> Iterator[tuple[Any, Any]]:
    """A real Prometheus (Debian's binary) scraping a test exporter every second."""
    from scripts.prometheus_server import PrometheusServer, binary

    from .metrics_exporter import Exporter

    if binary() is None:
        pytest.fail("prometheus is not installed: apt-get install prometheus (.ci/run does)")
    exporter = Exporter()
    try:
        with PrometheusServer([exporter.target]) as prometheus:
            yield prometheus, exporter
    finally:
        exporter.stop()


@pytest.fixture
def prometheus(_prometheus_and_exporter: tuple[Any, Any]) -> Any:
    return _prometheus_and_exporter[0]


@pytest.fixture
def service_metrics(_prometheus_and_exporter: tuple[Any, Any]) -> Any:
    """This test's series in the exporter Prometheus scrapes (see metrics_exporter.Scope)."""
    from .metrics_exporter import Scope

    return Scope(_prometheus_and_exporter[1], _prometheus_and_exporter[0])
