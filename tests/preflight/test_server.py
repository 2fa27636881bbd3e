"""``make run``'s web server — the Procfile's command line as it is written — answers a burst of
64 concurrent requests (pages, static files, API reads and writes) without dropping a connection
and without a 5xx: on the embedded SQLite (WAL, a busy timeout, IMMEDIATE transactions) and on
PostgreSQL with Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from scripts.throwaway import free_port

from ..processes import Answer, call, environment, manage, web

CONCURRENT = 64

# A project with an environment and a release, and a service token for it (printed last).
SETUP = """
from releases.models import Environment, Project, Release
from releases.services.tokens import token_issue
from audit.actors import Actor
project = Project.objects.create(slug="shop", name="Shop")
Environment.objects.create(project=project, slug="staging", name="Staging", position=0)
Release.objects.create(project=project, version="1.0.0", git_sha="abc1234")
print(token_issue(actor=Actor.of_system("test"), name="ci", project=project)[1])
"""


@pytest.fixture
def served(request, tmp_path) -> Iterator[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """The web process of `make run` on a fresh database; yields its port and a service token."""
    extra: dict[str, str] = {}
    if request.param == "postgresql":
        name = f"served_{uuid.uuid4().hex[:8]}"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        db = connection.settings_dict
        extra = {
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}",
            "REDIS_URL": settings.REDIS_URL,
        }
    env = environment(tmp_path / "var", **extra)
    try:
        manage(env, "migrate", "--noinput")
        token = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
        port = free_port()
        with web(env, port, tmp_path / "web.log"):
            yield port, token
    finally:
        if request.param == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("served", ["sqlite", "postgresql"], indirect=True)
def test_make_runs_server_answers_64_concurrent_requests_without_a_drop_or_a_5xx(served):
    port, token = served
    gate = "/api/v1/projects/shop/releases/1.0.0/gate/?environment=staging"
    runs = "/api/v1/projects/shop/releases/1.0.0/runs/"

    def release() -> Answer:
        version = f"2.0.{uuid.uuid4().int % 10**6}"
        return call(
            port,
            "POST",
            "/api/v1/projects/shop/releases/",
            token,
            {"version": version, "git_sha": "abcdef1"},
        )

    kinds = [
        lambda: call(port, "GET", "/login/"),
        lambda: call(port, "GET", "/static/css/preflight.css"),
        lambda: call(port, "GET", gate, token),
        # Writes, all audited: readiness runs (one is reused while queued) and releases.
        lambda: call(port, "POST", runs, token, {"environment": "staging"}),
        release,
    ]
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        futures = [pool.submit(kinds[n % len(kinds)]) for n in range(CONCURRENT)]
        # A dropped connection raises here (RemoteDisconnected, ConnectionResetError).
        answers = [future.result() for future in futures]
    statuses = sorted(answer.status for answer in answers)
    assert [a for a in answers if a.status >= 500][:3] == []
    assert set(statuses) == {200, 201, 202}, statuses
