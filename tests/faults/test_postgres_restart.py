"""PostgreSQL restarted under Preflight as ``make run`` serves it (web and a real worker), on a
server of this test's own: while it is down, the API answers 503 with Retry-After and its error
body, pages a plain 503 page, never a traceback or a dropped connection, and nothing is kept of
those requests (their Idempotency-Key stays free); once it is back, web and worker carry on
without being restarted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts.throwaway import PostgresServer, RedisServer, free_port

from ..processes import Answer, call, environment, manage, web, worker

pytestmark = pytest.mark.worker

# A project with an environment, a release and a ci check; a service token and a signed-in
# session of a member (printed last, one per line).
SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from audit.actors import Actor
from checks.models import Category, Check
from releases.models import Environment, Membership, Project, Release
from releases.services.tokens import token_issue
project = Project.objects.create(slug="shop", name="Shop")
Environment.objects.create(project=project, slug="staging", name="Staging", position=0, required_approvals=0)
Release.objects.create(project=project, version="1.0.0", git_sha="abc1234")
category = Category.objects.create(project=project, key="ci", name="CI", weight=100)
Check.objects.create(project=project, category=category, code="CI-001", title="Tests pass", kind="ci", phase="pre-deploy-week", severity="critical")
ana = get_user_model().objects.create_user("ana", password="preflight-test")
Membership.objects.create(project=project, user=ana, role="approver")
session = SessionStore()
session["_auth_user_id"] = str(ana.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = ana.get_session_auth_hash()
session.create()
print(token_issue(actor=Actor.of_system("test"), name="ci", project=project)[1])
print(session.session_key)
"""

# Read from the database each time (the gate may be answered from its cache for a few seconds).
RELEASE = "/api/v1/projects/shop/releases/1.0.0/"
RUNS = "/api/v1/projects/shop/releases/1.0.0/runs/"


@pytest.fixture
def servers() -> Iterator[tuple[PostgresServer, RedisServer]]:
    with PostgresServer() as postgres, RedisServer() as redis:
        yield postgres, redis


# make run's default (DEBUG on: Django's own error pages would show a traceback) and production's.
@pytest.mark.parametrize("debug", ["true", "false"])
def test_preflight_answers_503_while_postgresql_restarts_and_recovers_by_itself(
    servers, tmp_path: Path, debug: str
):
    postgres, redis = servers
    env = environment(tmp_path / "var", DATABASE_URL=postgres.url, REDIS_URL=redis.url, DEBUG=debug)
    manage(env, "migrate", "--noinput")
    token, session = manage(env, "shell", "-c", SETUP).split()[-2:]
    port = free_port()
    cookie = {"Cookie": f"sessionid={session}"}

    def release() -> Answer:
        return call(port, "GET", RELEASE, token)

    def page() -> Answer:
        return call(port, "GET", "/", headers={**cookie, "Accept": "text/html"})

    def start_run(key: str) -> Answer:
        return call(port, "POST", RUNS, token, {"environment": "staging"}, {"Idempotency-Key": key})

    with (
        web(env, port, tmp_path / "web.log") as server,
        worker(env, tmp_path / "worker.log") as celery,
    ):
        assert release().status == 200
        assert page().status == 200

        postgres.halt()
        halted = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            # A dropped connection would raise here.
            down = list(pool.map(lambda f: f(), [release, page, lambda: start_run("run-1")] * 2))
        # Each request gives up after the pool's 5 s; under DEBUG, Django's debug page for the
        # error must not wait out that timeout again for every queryset it would show (45 s).
        assert time.monotonic() - halted < 30
        for answer in down:
            assert answer.status == 503, answer.body
            assert answer.headers["retry-after"] == "5"
        api = [a for a in down if a.headers["content-type"].startswith("application/json")]
        assert len(api) == 4
        assert {a.json()["code"] for a in api} == {"unavailable"}
        pages = [a for a in down if a.headers["content-type"].startswith("text/html")]
        assert len(pages) == 2
        assert all(b"Preflight is unavailable for a moment" in a.body for a in pages)
        assert all(b"Traceback" not in a.body for a in down)

        postgres.resume()
        deadline = time.monotonic() + 60
        while release().status != 200:
            assert time.monotonic() < deadline, "the web process did not recover"
            time.sleep(0.5)
        assert page().status == 200
        # The key of the request that got a 503 is free: the run starts now (or, from a web
        # process that has not reconnected yet, after the Retry-After a pipeline heeds).
        while (started := start_run("run-1")).status == 503:
            assert time.monotonic() < deadline, "the run could not start again"
            time.sleep(1)
        assert started.status == 202, started.body
        run = started.json()["id"]
        # The worker, connected to the old server until the restart, executes it.
        deadline = time.monotonic() + 60
        while call(port, "GET", f"/api/v1/runs/{run}/", token).json()["status"] != "finished":
            assert time.monotonic() < deadline, "the worker did not recover"
            time.sleep(0.3)
        assert server.poll() is None
        assert celery.poll() is None
    log = (tmp_path / "web.log").read_text()
    assert "Traceback" not in log
    assert "database unavailable" in log
