"""``make run``'s web server — the Procfile's command line as it is written — answers a burst of
64 concurrent requests (pages, static files, API reads and writes) without dropping a connection
and without a 5xx: on the embedded SQLite (WAL, a busy timeout, IMMEDIATE transactions) and on
PostgreSQL with Redis."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from scripts.throwaway import free_port

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
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


def procfile_command(name: str, port: int) -> list[str]:
    line = next(
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    return shlex.split(line.replace("$PORT", str(port)))


def environment(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    # As `make run` starts it: honcho puts the virtualenv first on PATH.
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PREFLIGHT_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="preflight.settings.local",
        DEBUG="false",
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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
    manage(env, "migrate", "--noinput")
    token = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
    port = free_port()
    log = (tmp_path / "web.log").open("wb")
    server = subprocess.Popen(
        procfile_command("web", port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get(port, "/health/live")[0] == 200
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        yield port, token
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        if request.param == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def get(port: int, path: str, token: str = "") -> tuple[int, bytes]:
    return call(port, "GET", path, token)


def call(
    port: int, method: str, path: str, token: str = "", body: object = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("served", ["sqlite", "postgresql"], indirect=True)
def test_make_runs_server_answers_64_concurrent_requests_without_a_drop_or_a_5xx(served):
    port, token = served
    gate = "/api/v1/projects/shop/releases/1.0.0/gate/?environment=staging"
    kinds = [
        lambda: get(port, "/login/"),
        lambda: get(port, "/static/css/preflight.css"),
        lambda: get(port, gate, token),
        # Writes: readiness runs (one is reused while queued) and releases, all audited.
        lambda: call(
            port,
            "POST",
            "/api/v1/projects/shop/releases/1.0.0/runs/",
            token,
            {"environment": "staging"},
        ),
        lambda: call(
            port,
            "POST",
            "/api/v1/projects/shop/releases/",
            token,
            {"version": f"2.0.{uuid.uuid4().int % 10**6}", "git_sha": "abcdef1"},
        ),
    ]
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        futures = [pool.submit(kinds[n % len(kinds)]) for n in range(CONCURRENT)]
        # A dropped connection raises here (RemoteDisconnected, ConnectionResetError).
        answers = [future.result() for future in futures]
    statuses = sorted(status for status, _ in answers)
    assert all(status < 500 for status in statuses), [a for a in answers if a[0] >= 500][:3]
    assert set(statuses) <= {200, 201, 202}, statuses
    assert len(answers) == CONCURRENT
