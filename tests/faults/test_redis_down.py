"""Redis stopped and started again (empty: it saves nothing) while pipelines run the CI flow
against Preflight as ``make run`` serves it, with a real worker, both on a Redis of this test's
own: every answer is 2xx/4xx or a 503 with Retry-After, every recorded change has its audit
event, and every side effect queued meanwhile — runs to execute, webhooks to deliver, the
post-deploy verification — happens once Redis is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection

from audit.actors import Actor
from audit.models import AuditEvent
from checks.models import ReadinessRun
from core.outbox.models import Message
from releases.models import Deployment, Release, Webhook, WebhookDelivery
from releases.services.tokens import token_issue
from scripts.throwaway import RedisServer, free_port

from ..factories import (
    CategoryFactory,
    CheckFactory,
    DeploymentFactory,
    EnvironmentFactory,
    ProjectFactory,
    ReleaseFactory,
)
from ..processes import Answer, call, environment, web, worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]


class Receiver:
    """A webhook endpoint: keeps the webhook-id of every delivery it is sent."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        received = self.ids

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                received.append(self.headers["webhook-id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Pipeline:
    """The CI flow of docs/ci.md, as curl runs it: each POST with an Idempotency-Key, repeated
    with the same key after a 503 (honouring Retry-After) or a 409 in flight / busy."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.answers: list[tuple[str, Answer]] = []
        self.error: BaseException | None = None

    def request(self, method: str, path: str, body: object = None, key: str = "") -> Answer:
        headers = {"Idempotency-Key": key} if key else {}
        for _ in range(120):
            answer = call(self.port, method, path, self.token, body, headers)
            self.answers.append((f"{method} {path}", answer))
            code = answer.json().get("code") if answer.status >= 400 else None
            if answer.status == 503 or code in ("request_in_flight", "environment_busy"):
                time.sleep(min(float(answer.headers.get("retry-after", "1")), 1.0))
                continue
            return answer
        raise AssertionError(f"{method} {path} kept failing: {answer.status} {answer.body!r}")

    def flow(self, version: str) -> None:
        api = "/api/v1"
        release = f"{api}/projects/shop/releases/{version}"
        answer = self.request(
            "POST",
            f"{api}/projects/shop/releases/",
            {"version": version, "git_sha": "abc1234"},
            f"{version}-release",
        )
        assert answer.status == 201, answer.body
        answer = self.request(
            "POST",
            f"{api}/projects/shop/check-results/",
            {"version": version, "environment": "production", "check": "CI-001", "status": "pass"},
            f"{version}-report",
        )
        assert answer.status in (200, 201), answer.body
        run = self.request(
            "POST", f"{release}/runs/", {"environment": "production"}, f"{version}-run"
        ).json()["id"]
        deadline = time.monotonic() + 180
        while self.request("GET", f"{api}/runs/{run}/").json()["status"] != "finished":
            assert time.monotonic() < deadline, f"run {run} never finished"
            time.sleep(0.3)
        assert self.request("GET", f"{release}/gate/?environment=production").json()["allowed"]
        deployment = self.request(
            "POST",
            f"{api}/projects/shop/deployments/",
            {"version": version, "environment": "production"},
            f"{version}-deploy",
        )
        assert deployment.status == 201, deployment.body
        finished = self.request(
            "POST",
            f"{api}/deployments/{deployment.json()['id']}/finish/",
            {"status": "succeeded"},
            f"{version}-finish",
        )
        assert finished.status == 200, finished.body

    def run(
        self,
        versions: list[str],
        done: dict[str, threading.Event],
        go_on: threading.Event | None = None,
    ) -> None:
        try:
            for position, version in enumerate(versions):
                if position == 1 and go_on is not None:
                    # The second pipeline starts once the test has stopped Redis, however busy
                    # the machine: its run must be queued while the broker is away.
                    go_on.wait(180)
                self.flow(version)
                done[version].set()
        except BaseException as exc:
            self.error = exc
        finally:
            for event in done.values():
                event.set()


def wait_for(condition, seconds: float = 180, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def test_redis_stopped_and_started_during_the_ci_flow_loses_nothing_and_fails_nothing(
    redis_server, receiver, tmp_path: Path
):
    project = ProjectFactory(slug="shop", name="Shop")
    production = EnvironmentFactory(
        project=project, slug="production", position=0, min_score=Decimal(80), required_approvals=0
    )
    CheckFactory(
        project=project,
        category=CategoryFactory(project=project, key="ci", weight=100),
        code="CI-001",
        severity="critical",
        kind="ci",
    )
    DeploymentFactory(
        release=ReleaseFactory(project=project, version="0.9.0"),
        environment=production,
        status="verified",
    )
    Webhook.objects.create(project=project, name="ops", url=receiver.url)
    token = token_issue(actor=Actor.of_system("test-setup"), name="pipeline", project=project)[1]

    env = environment(
        tmp_path / "var",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_server.url,
        PREFLIGHT_OUTBOX_SWEEP_SECONDS="1",
        # What Redis lost when it restarted empty is sent again this soon.
        PREFLIGHT_OUTBOX_RESEND_SECONDS="10",
    )
    port = free_port()
    with (
        web(env, port, tmp_path / "web.log") as server,
        worker(env, tmp_path / "worker.log") as celery,
    ):
        pipeline = Pipeline(port, token)
        done = {version: threading.Event() for version in VERSIONS}
        go_on = threading.Event()
        thread = threading.Thread(target=pipeline.run, args=(VERSIONS, done, go_on), daemon=True)
        thread.start()
        assert done[VERSIONS[0]].wait(180)
        assert pipeline.error is None, pipeline.error

        # Redis goes away while the next pipeline registers, reports and starts its run.
        redis_server.halt()
        go_on.set()
        wait_for(
            lambda: ReadinessRun.objects.filter(release__version=VERSIONS[1]).exists(),
            what="a run started while Redis is down",
        )
        time.sleep(3)  # the sweep tries, and fails, meanwhile
        waiting = Message.objects.filter(sent_at__isnull=True).count()
        assert waiting > 0  # queued in the database, not lost and not failed
        assert ReadinessRun.objects.get(release__version=VERSIONS[1]).status == "queued"
        redis_server.start()

        thread.join(timeout=600)
        assert not thread.is_alive(), "the pipelines did not finish"
        assert pipeline.error is None, pipeline.error
        last = Deployment.objects.filter(release__version=VERSIONS[-1]).get()
        rollback = pipeline.request(
            "POST",
            f"/api/v1/deployments/{last.pk}/rollback/",
            {"reason": "Card payments failing"},
            "rollback",
        )
        assert rollback.status == 201, rollback.body

        # Everything queued was done: runs executed, verifications concluded, webhooks sent.
        wait_for(
            lambda: not Message.objects.filter(done_at__isnull=True).exists(),
            what="the outbox to drain",
        )
        wait_for(
            lambda: not WebhookDelivery.objects.exclude(status="delivered").exists(),
            what="every webhook delivered",
        )
        # Neither had to be restarted.
        assert server.poll() is None
        assert celery.poll() is None

    failures = [
        (what, a.status, a.body)
        for what, a in pipeline.answers
        if a.status >= 500 and a.status != 503
    ]
    assert failures == []
    assert all("retry-after" in a.headers for _, a in pipeline.answers if a.status == 503)
    assert set(ReadinessRun.objects.values_list("status", flat=True)) == {"finished"}
    assert sorted(
        Deployment.objects.filter(rollback_of=None).values_list("release__version", "status")
    ) == [
        ("0.9.0", "verified"),
        *((version, "verified") for version in VERSIONS),
    ]
    # Every webhook went out, each delivery at least once (a redelivery keeps its id).
    deliveries = WebhookDelivery.objects.all()
    assert {f"msg_{d.message_id.hex}" for d in deliveries} <= set(receiver.ids)
    assert {
        "release.created",
        "run.finished",
        "deployment.started",
        "deployment.verified",
        "rollback.started",
    } <= {d.event for d in deliveries}
    # Nothing was recorded without its audit event (0.9.0 and its deployment are the setup's).
    for model, rows, actions in (
        (Release, Release.objects.exclude(version="0.9.0"), {"release.created"}),
        (ReadinessRun, ReadinessRun.objects.all(), {"run.started"}),
        (
            Deployment,
            Deployment.objects.exclude(release__version="0.9.0", rollback_of=None),
            {"deployment.started", "rollback.started"},
        ),
    ):
        for pk in rows.values_list("pk", flat=True):
            assert AuditEvent.objects.filter(
                object_type=model._meta.label_lower, object_id=str(pk), action__in=actions
            ).exists(), (model, pk)
