"""The Celery worker's metrics port: a real prefork worker (two children, as docker-compose runs
it with four) executes a run, delivers webhooks and fails a task; its main process answers the
scrape with what the children counted."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from checks.kinds.http import validate as http_config
from checks.models import ReadinessRun
from checks.services.runs import run_start
from preflight.celery import app as celery_app
from releases.models import Webhook, WebhookDelivery

from ..checks.conftest import subprocess_env
from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory
from .helpers import TOKEN, parse, value
from .test_servers import _free_port

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CELERY = str(Path(sys.executable).with_name("celery"))


def _get(url: str, **headers: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as answered:
        return answered.code, answered.read().decode()


@pytest.fixture(scope="module")
def worker_metrics(django_db_setup, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    tmp_path = tmp_path_factory.mktemp("worker")
    redis.Redis.from_url(settings.REDIS_URL).delete("celery")
    port = _free_port()
    env = subprocess_env(
        PREFLIGHT_WORKER_METRICS_PORT=str(port),
        PREFLIGHT_METRICS_TOKEN=TOKEN,
        PREFLIGHT_VAR_DIR=str(tmp_path),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [
            CELERY,
            "-A",
            "preflight",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "-n",
            "metrics@localhost",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(url)[0] == 401:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no metrics port:\n{(tmp_path / 'worker.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_worker_port_serves_runs_checks_webhooks_and_task_outcomes(
    worker_metrics, release, environments, deployer, http_server
) -> None:
    project = release.project
    category = CategoryFactory(project=project, key="all", weight=100)
    CheckFactory(
        project=project,
        category=category,
        code="UP-1",
        kind="http",
        config=http_config({"url": http_server.url("/ok")}),
    )
    Webhook.objects.create(project=project, name="ops", url=http_server.url("/ok"))
    Webhook.objects.create(project=project, name="down", url=http_server.url("/status/503"))

    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    # A task that cannot succeed: not a delivery id.
    celery_app.send_task("releases.tasks.deliver_webhook", args=["not-a-number"])

    def scrape() -> dict:
        status, text = _get(worker_metrics, Authorization=f"Bearer {TOKEN}")
        assert status == 200, text
        return parse(text)

    def done(samples: dict) -> bool:
        tasks = "preflight_celery_tasks_total"
        return (
            value(samples, tasks, task="checks.tasks.execute_run", outcome="succeeded") >= 1
            and value(samples, tasks, task="releases.tasks.deliver_webhook", outcome="succeeded")
            >= 1
            and value(samples, tasks, task="releases.tasks.deliver_webhook", outcome="retried") >= 1
            and value(samples, tasks, task="releases.tasks.deliver_webhook", outcome="failed") >= 1
        )

    deadline = time.monotonic() + 60
    samples = scrape()
    while not done(samples):
        if time.monotonic() > deadline:
            pytest.fail(f"the worker's counts never showed every task: {samples}")
        time.sleep(0.2)
        samples = scrape()

    run.refresh_from_db()
    assert run.status == ReadinessRun.Status.FINISHED
    finished = {"kind": "readiness", "status": "finished"}
    assert value(samples, "preflight_readiness_runs_total", **finished) == 1
    assert value(samples, "preflight_readiness_run_duration_seconds_count", **finished) == 1
    assert value(samples, "preflight_check_evaluations_total", kind="http", status="pass") == 1
    assert value(samples, "preflight_check_evaluation_duration_seconds_count", kind="http") == 1
    assert value(samples, "preflight_webhook_deliveries_total", outcome="delivered") >= 1
    assert value(samples, "preflight_webhook_deliveries_total", outcome="retrying") >= 1
    assert WebhookDelivery.objects.filter(status="delivered").exists()


def test_the_worker_port_asks_for_the_token_like_the_web_one(worker_metrics) -> None:
    assert _get(worker_metrics)[0] == 401
    assert _get(worker_metrics, Authorization="Bearer wrong-wrong-wrong-wrong")[0] == 401
    assert _get(worker_metrics.replace("/metrics", "/other"))[0] == 404
