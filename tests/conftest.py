from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

import pytest

from audit.actors import Actor
from releases.models import Environment, Membership, Project, Release

from .factories import (
    CategoryFactory,
    CheckFactory,
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
