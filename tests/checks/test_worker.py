"""Runs through a real Celery worker (a subprocess on the throwaway Redis): results appear one by
one, the run ends with its score; and a worker killed with SIGKILL mid-run does not leave the run
stuck — a second worker and the reaper finish it, without duplicate results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from checks.kinds.http import validate as http_config
from checks.models import CheckResult, ReadinessRun
from checks.services.runs import STALE_AFTER, run_start
from checks.tasks import reap_runs
from preflight.celery import app as celery_app

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory
from .conftest import subprocess_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CELERY = str(Path(sys.executable).with_name("celery"))


@pytest.fixture(scope="module")
def workers(tmp_path_factory) -> Iterator[Workers]:  # type: ignore[no-untyped-def]
    """Starts Celery workers as the Procfile does; every one still alive is stopped at the end."""
    redis.Redis.from_url(settings.REDIS_URL).delete("celery")  # messages other tests left queued
    logs = tmp_path_factory.mktemp("workers")
    workers = Workers(logs)
    yield workers
    for process in workers.started:
        if process.poll() is None:
            process.kill()  # idle by now; nothing to finish
            process.wait()


@pytest.fixture(autouse=True)
def _workers_idle_before_teardown() -> Iterator[None]:
    """A run is seen finished before its worker is done with it (announcements after commit);
    the test database is flushed only once no task is still running."""
    yield
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # No reply at all means no worker is left (the test killed them): idle too.
        active = celery_app.control.inspect(timeout=0.5).active() or {}
        if not any(active.values()):
            return
        time.sleep(0.1)
    pytest.fail(f"workers still busy 30 s after the test: {active}")


class Workers:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def __call__(self) -> subprocess.Popen[bytes]:
        logs = self.logs
        name = f"test-{uuid.uuid4().hex[:8]}"
        log = (logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "preflight",
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "-n",
                f"{name}@localhost",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ],
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
        self.started.append(process)
        return process


def wait_for(condition: Callable[[], bool], seconds: float = 60, every: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    pytest.fail(f"gave up waiting after {seconds} s")


def http_check(project, category, code, url, severity="high"):  # type: ignore[no-untyped-def]
    return CheckFactory(
        project=project,
        category=category,
        code=code,
        kind="http",
        severity=severity,
        config=http_config({"url": url}),
    )


def test_a_run_executes_in_a_real_worker_result_by_result(
    workers, release, environments, deployer, http_server
):
    project = release.project
    category = CategoryFactory(project=project, key="all", weight=100)
    for n in range(4):
        http_check(project, category, f"FAST-{n}", http_server.url("/sleep/0.2"))
    http_check(project, category, "SLOW-1", http_server.url("/sleep/1.5"))
    http_check(project, category, "DOWN-1", http_server.url("/status/500"))
    CheckFactory(project=project, category=category, code="CI-1", kind="ci", severity="critical")
    workers()

    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    progress: list[tuple[str, int]] = []

    def finished() -> bool:
        run.refresh_from_db()
        progress.append((run.status, run.results.filter(evaluated_at__isnull=False).count()))
        return run.status in ("finished", "error")

    wait_for(finished)
    assert run.status == "finished", run.error
    # Seen while running: some results written, others still to come.
    assert any(status == "running" and 0 < known < 7 for status, known in progress), progress
    statuses = dict(run.results.values_list("check_item__code", "status"))
    assert statuses == {
        "FAST-0": "pass",
        "FAST-1": "pass",
        "FAST-2": "pass",
        "FAST-3": "pass",
        "SLOW-1": "pass",
        "DOWN-1": "fail",
        "CI-1": "pending",
    }
    # 5 high passes (20 of 24) + critical pending (0 of 8): 100 × 20 / 32
    assert run.score == Decimal("62.5")
    assert run.attempts == 1


def test_a_worker_killed_mid_run_does_not_leave_the_run_stuck(
    workers, release, environments, deployer, http_server
):
    project = release.project
    category = CategoryFactory(project=project, key="all", weight=100)
    for n in range(3):
        http_check(project, category, f"FAST-{n}", http_server.url(f"/ok?{n}"))
    for n in range(3):
        http_check(project, category, f"SLOW-{n}", http_server.url(f"/sleep/3?{n}"))
    if not [p for p in workers.started if p.poll() is None]:
        workers()

    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )

    def fast_ones_written() -> bool:
        return (
            ReadinessRun.objects.filter(pk=run.pk, status="running").exists()
            and CheckResult.objects.filter(
                run=run, check_item__code__startswith="FAST", evaluated_at__isnull=False
            ).count()
            == 3
        )

    wait_for(fast_ones_written)
    for process in workers.started:  # whichever worker took the run dies without warning
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    run.refresh_from_db()
    assert run.status == "running"
    assert run.results.filter(evaluated_at__isnull=True).count() == 3

    # Time passes: the dead worker's heartbeat goes stale; the reaper, run by a new worker,
    # hands the run to that worker, which evaluates only what was left.
    ReadinessRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - STALE_AFTER - timedelta(seconds=1)
    )
    workers()
    reap_runs.delay()
    wait_for(
        lambda: ReadinessRun.objects.filter(pk=run.pk, status__in=("finished", "error")).exists()
    )
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("finished", 2)
    assert run.results.count() == 6
    assert set(run.results.values_list("status", flat=True)) == {"pass"}
    assert run.score == Decimal("100.0")
    fast_requests = [path for path, _ in http_server.requests if path.startswith("/ok")]
    assert sorted(fast_requests) == ["/ok?0", "/ok?1", "/ok?2"]  # not evaluated twice
