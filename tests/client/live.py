"""Preflight served by pytest-django's live server, and the ``preflight`` command run against it
as a pipeline runs it: a subprocess with ``python -S``, so nothing but the standard library is
importable. The tests play the Celery worker for readiness runs (``execute_queued_run``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from audit.actors import Actor
from checks.gate import evaluate_gate
from checks.models import ReadinessRun
from checks.services.runs import run_execute
from releases.models import Environment, Membership, Release
from releases.services.tokens import token_issue

from ..factories import (
    CategoryFactory,
    CheckFactory,
    DeploymentFactory,
    EnvironmentFactory,
    ProjectFactory,
    ReleaseFactory,
    UserFactory,
)

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
FAST = ["--interval", "0.1", "--max-interval", "0.3"]
SETUP = Actor.of_system("test-setup")


@dataclass
class World:
    url: str
    ci: str  # a service token for the project (role ci)
    ana: str  # user tokens of two approvers
    ben: str
    viewer: str
    production: Environment


def build_world(url: str) -> World:
    """A project "shop" with a production environment (min score 80, two approvals), one
    critical ci check CI-001, a verified 0.9.0 to roll back to, and tokens: the pipeline's
    service token, two approvers' and a viewer's."""
    project = ProjectFactory(slug="shop", name="Shop")
    production = EnvironmentFactory(
        project=project,
        slug="production",
        position=0,
        min_score=Decimal(80),
        required_approvals=2,
        requires_previous=False,
    )
    CheckFactory(
        project=project,
        category=CategoryFactory(project=project, key="ci", weight=100),
        code="CI-001",
        title="Unit tests pass",
        severity="critical",
        kind="ci",
    )
    # What a rollback goes back to.
    DeploymentFactory(
        release=ReleaseFactory(project=project, version="0.9.0"),
        environment=production,
        status="verified",
    )

    def user_token(username: str, role: str) -> str:
        user = UserFactory(username=username)
        Membership.objects.create(project=project, user=user, role=role)
        return token_issue(actor=SETUP, name=username, user=user)[1]

    return World(
        url=url,
        ci=token_issue(actor=SETUP, name="pipeline", project=project)[1],
        ana=user_token("ana", "approver"),
        ben=user_token("ben", "approver"),
        viewer=user_token("vic", "viewer"),
        production=production,
    )


def command(*argv: str) -> list[str]:
    return [sys.executable, "-S", "-m", "preflight_client", *argv]


def environ(world: World, token: str | None = None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(CLIENT_DIR),
        "PREFLIGHT_URL": world.url,
        "PREFLIGHT_TOKEN": world.ci if token is None else token,
    }


def preflight(
    world: World, *argv: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*argv),
        env=environ(world, token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start(world: World, *argv: str, token: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*argv),
        env=environ(world, token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def approve(world: World, token: str) -> int:
    """An approver decides through the API with their own token, as the release page would."""
    request = urllib.request.Request(
        f"{world.url}/api/v1/projects/shop/releases/1.0.0/approvals/",
        data=json.dumps({"environment": "production", "decision": "approve"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def execute_queued_run(release: str, deadline: float = 30) -> ReadinessRun:
    """What the Celery worker would do: take the queued run and execute it."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        run = ReadinessRun.objects.filter(
            release__version=release, status=ReadinessRun.Status.QUEUED
        ).first()
        if run is not None:
            run_execute(run.pk)
            run.refresh_from_db()
            return run
        time.sleep(0.05)
    raise AssertionError("no readiness run was queued")


def reasons_now(world: World) -> list[str]:
    release = Release.objects.get(project__slug="shop", version="1.0.0")
    production = Environment.objects.get(pk=world.production.pk)
    return [r.message for r in evaluate_gate(release, production).reasons]
