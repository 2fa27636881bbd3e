"""How the demo replays its history: the real services and the real check code, each step put
back at the moment it happened.

Services stamp what they write with the present; the demo's history happened over the past
weeks. Each step therefore calls the service as a user would, then moves the rows it wrote to
the step's moment (``backdate``). The audit log keeps the present: it records that the demo was
loaded, in the order it was, and is never rewritten. Readiness runs are started with
``run_start`` and executed with ``run_execute``, the function a worker runs, after their start
has been moved to their moment: kinds that judge Preflight's own records read them as they
stood then (``CheckContext.as_of``)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.servers.basehttp import (
    ThreadedWSGIServer,
    WSGIRequestHandler,
    get_internal_wsgi_application,
)
from django.db import transaction
from django.db.models import F, Model, QuerySet
from django.test.utils import override_settings

from audit.actors import Actor
from checks.models import CheckResult, MigrationRehearsal, ReadinessRun
from checks.services.deployments import deployment_finish, deployment_start
from checks.services.runs import run_execute, run_start
from checks.services.verification import verification_conclude, verification_start
from releases.models import Deployment, Environment, Lock, Release


def backdate(queryset: QuerySet[Any], **moments: datetime | None) -> None:
    """Set the rows' timestamps to the moments of the history (a field given None is left)."""
    values = {name: moment for name, moment in moments.items() if moment is not None}
    if values:
        queryset.update(**values)


def backdate_row(row: Model, **moments: datetime | None) -> None:
    backdate(type(row)._default_manager.filter(pk=row.pk), **moments)
    for name, moment in moments.items():
        if moment is not None:
            setattr(row, name, moment)


def start_run(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    at: datetime,
) -> ReadinessRun:
    """Start a readiness run for the moment ``at``. Its task is queued when the transaction
    commits, after its start has moved to ``at``: a worker that takes it judges the moment."""
    with transaction.atomic():
        run, _ = run_start(actor=actor, release=release, environment=environment)
        backdate_row(run, created_at=at)
    return run


def execute(run: ReadinessRun) -> ReadinessRun:
    """Execute the run as a worker does, then move its times (and its results') from now to
    its moment, keeping how long each step took."""
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == ReadinessRun.Status.FINISHED, run.error
    assert run.started_at is not None
    assert run.finished_at is not None
    shift = run.started_at - run.created_at
    backdate(
        ReadinessRun.objects.filter(pk=run.pk),
        started_at=run.created_at,
        heartbeat_at=run.finished_at - shift,
        finished_at=run.finished_at - shift,
    )
    CheckResult.objects.filter(run=run).update(
        evaluated_at=F("evaluated_at") - shift, updated_at=F("updated_at") - shift
    )
    MigrationRehearsal.objects.filter(run=run).update(
        started_at=F("started_at") - shift, finished_at=F("finished_at") - shift
    )
    run.refresh_from_db()
    return run


def verify(deployment: Deployment, at: datetime) -> Deployment:
    """Post-deploy verification of a deployment that succeeded at ``at``, as the worker does it
    when the deployment's success commits: its post-deploy checks, then the verdict."""
    run = verification_start(deployment.pk)
    if run is not None:
        backdate_row(run, created_at=at)
        execute(run)
        verification_conclude(run.pk)
    deployment.refresh_from_db()
    backdate_row(
        deployment,
        verified_at=at + timedelta(minutes=2) if deployment.verified_at else None,
    )
    return deployment


def deploy(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    at: datetime,
    minutes: int,
    strategy: str,
) -> Deployment:
    """A deployment through Preflight: the gate is asked, the lock held, the finish recorded,
    the post-deploy checks run."""
    deployment = deployment_start(
        actor=actor, release=release, environment=environment, strategy=strategy
    )
    backdate_row(deployment, started_at=at)
    return finish(actor=actor, deployment=deployment, at=at + timedelta(minutes=minutes))


def finish(*, actor: Actor, deployment: Deployment, at: datetime) -> Deployment:
    deployment = deployment_finish(actor=actor, deployment=deployment, status="succeeded")
    backdate_row(deployment, finished_at=at)
    return verify(deployment, at)


def backdate_lock(environment: Environment, *, at: datetime) -> Lock:
    lock = Lock.objects.filter(environment=environment).order_by("-id").first()
    assert lock is not None
    backdate_row(lock, created_at=at)
    return lock


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def health_endpoints() -> Iterator[str]:
    """Preflight's own health endpoints on a private port for as long as the history is
    replayed. The demo's http checks probe them (they stand in for the Liquor POS's); when
    `make run` loads the demo its web server is not up yet, so the replay serves them itself."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), _Quiet, allow_reuse_address=True)
    server.set_app(get_internal_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, name="demo-health", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # The first request loads the whole site (URLs, views): made here, so the checks' latency
    # budgets time the endpoints, not the start-up.
    with urllib.request.urlopen(f"{url}/health/live", timeout=30) as answer:  # noqa: S310 - our own
        answer.read()
    try:
        with override_settings(
            PREFLIGHT_BASE_URL=url, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"]
        ):
            yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
