"""Preflight served by pytest-django's live server, and the ``preflight`` command run against it
as a pipeline runs it: a subprocess with ``python -S``, so nothing but the standard library is
importable. Readiness runs execute in a real Celery worker (``celery_worker``), started as the
Procfile starts it, on the test database and the throwaway Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from audit.actors import Actor
from checks.gate import evaluate_gate
from checks.models import ReadinessRun
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


def finished_run(version: str, deadline: float = 60) -> ReadinessRun:
    """The readiness run of ``version``, once the worker has finished it."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        run = ReadinessRun.objects.filter(
            release__version=version, status=ReadinessRun.Status.FINISHED
        ).first()
        if run is not None:
            return run
        time.sleep(0.05)
    raise AssertionError(f"no readiness run of {version} finished within {deadline} s")


@contextmanager
def celery_worker(log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One Celery worker as the Procfile runs it, on the test database; killed at the end."""
    # Messages other tests left queued name runs of databases long flushed; drop them.
    redis.Redis.from_url(settings.REDIS_URL).delete("celery")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    database_url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    name = f"client-tests-{uuid.uuid4().hex[:8]}@localhost"
    command = [str(Path(sys.executable).with_name("celery")), "-A", "preflight", "worker"]
    command += ["--pool=threads", "--concurrency=2", "-n", name, "--without-mingle"]
    command += ["--without-gossip", "--loglevel=INFO"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "preflight.settings.test",
                "DATABASE_URL": database_url,
                "REDIS_URL": settings.REDIS_URL or "",
            },
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
        try:
            yield process
        finally:
            process.kill()  # nothing of its work outlives the tests
            process.wait()


def reasons_now(world: World) -> list[str]:
    release = Release.objects.get(project__slug="shop", version="1.0.0")
    production = Environment.objects.get(pk=world.production.pk)
    return [r.message for r in evaluate_gate(release, production).reasons]
