"""The demo with a Prometheus, as docs/readiness.md's "Try it on the demo" sets it up: a real
Prometheus scraping Preflight's own /metrics (a live server, with PREFLIGHT_METRICS_TOKEN), and
a real worker watching each production deployment. The Prometheus is configured as that section says. A deployment whose clients get their answers
is verified by metrics; one that answers them with errors fails POST-07 and is rolled back.
Without a Prometheus the objective is not in the catalog; a Prometheus named later adds it."""

from __future__ import annotations

import contextlib
import threading
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.actors import Actor
from checks.kinds import get_kind
from checks.models import Check, CheckResult, ReadinessRun
from checks.services.approvals import approval_record
from checks.services.deployments import deployment_finish, deployment_start
from demo import loader
from preflight.celery import app as celery_app
from releases.models import Deployment, Environment, Lock, Release
from scripts.prometheus_server import PrometheusServer, binary

from ..checks.test_worker import (  # noqa: F401 - the fixtures that start and drain workers
    _workers_idle_before_teardown,
    wait_for,
    workers,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(binary() is None, reason="Debian's prometheus is not installed"),
]

TOKEN = "demo-metrics-token-" + "m" * 24
ROOT = Path(__file__).resolve().parents[2]


def documented_config() -> str:
    """The Prometheus configuration docs/readiness.md's "Try it on the demo" gives."""
    section = (ROOT / "docs/readiness.md").read_text().split("### Try it on the demo", 1)[1]
    return section.split("<<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]


@pytest.fixture
def scraped(live_server, settings):  # type: ignore[no-untyped-def]
    """A Prometheus with the documented configuration, scraping the live server's /metrics (in
    place of make run's port) with the token file beside it."""
    settings.PREFLIGHT_METRICS_TOKEN = TOKEN
    config = documented_config()
    assert '"127.0.0.1:8000"' in config
    config = config.replace('"127.0.0.1:8000"', f'"{live_server.url.removeprefix("http://")}"')
    with PrometheusServer(config=config, files={"metrics-token": TOKEN + "\n"}) as server:
        yield server


def person(username: str) -> Actor:
    return Actor.of_user(get_user_model().objects.get(username=username))


def a_short_watch() -> None:
    """POST-07 as the catalog has it, watching 12 s instead of 2 min (and at 1 s steps)."""
    entry = next(
        c
        for c in yaml.safe_load(loader.CATALOG.read_text())["checks"]
        if c["code"] == loader.METRICS_OBJECTIVE
    )
    config = entry["config"] | {"step": "1s", "verification": {"interval": "2s", "duration": "12s"}}
    Check.objects.filter(code=loader.METRICS_OBJECTIVE).update(
        config=get_kind("prometheus").validate(config)
    )


def deploy(release: Release, production: Environment) -> Deployment:
    deployment = deployment_start(
        actor=person("dana"), release=release, environment=production, strategy="rolling"
    )
    return deployment_finish(actor=person("dana"), deployment=deployment, status="succeeded")


def watched(deployment: Deployment) -> CheckResult:
    return CheckResult.objects.get(
        run__deployment=deployment, check_item__code=loader.METRICS_OBJECTIVE
    )


def test_with_a_prometheus_a_production_deployment_is_verified_by_metrics_and_a_bad_one_rolled_back(
    scraped,
    live_server,
    monkeypatch,
    workers,  # noqa: F811 - the fixture imported above
):
    monkeypatch.setenv(loader.PROMETHEUS_ENV, scraped.url)
    monkeypatch.setenv("PREFLIGHT_BASE_URL", live_server.url)  # the worker's http checks
    monkeypatch.delenv("LIQUOR_POS_DATABASE_URL", raising=False)
    call_command("load_demo", password="demo-pw", stdout=StringIO())
    assert Check.objects.get(code=loader.METRICS_OBJECTIVE).is_active
    a_short_watch()
    fixed = Release.objects.get(version="1.1.0")
    production = Environment.objects.get(slug="production")
    run = ReadinessRun.objects.filter(
        release=fixed, environment=production, kind="readiness"
    ).latest("created_at")
    approval_record(
        actor=person("ben"),
        release=fixed,
        environment=production,
        decision="approve",
        comment="Rehearsed and reviewed.",
        run=run,
    )
    # Prometheus has rates of Preflight's requests (its own scrapes count) before the deployment.
    wait_for(
        lambda: bool(scraped.query("sum(rate(preflight_http_requests_total[30s]))")), seconds=30
    )
    workers()
    wait_for(lambda: bool(celery_app.control.ping(timeout=0.5)), seconds=60, every=0.2)

    good = deploy(fixed, production)
    wait_for(
        lambda: Deployment.objects.filter(
            pk=good.pk, status__in=("verified", "verification_failed")
        ).exists(),
        seconds=90,
    )
    good.refresh_from_db()
    result = watched(good)
    assert good.status == "verified", result.detail
    assert result.status == "pass"
    assert result.detail.startswith("After watching for 12 s (")
    assert "error answers, share of requests (key): 0, pass < 0.1 → pass" in result.detail
    assert len(result.data["evaluations"]) >= 3

    # The next deployment answers its clients' requests with errors: a route they still call
    # is not there.
    bad = deploy(fixed, production)
    stop = threading.Event()

    def clients() -> None:
        while not stop.is_set():
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"{live_server.url}/api/v1/orders", timeout=5)
            stop.wait(0.05)

    caller = threading.Thread(target=clients, daemon=True)
    caller.start()
    try:
        wait_for(lambda: Deployment.objects.filter(rollback_of=bad).exists(), seconds=90)
    finally:
        stop.set()
        caller.join(timeout=10)
    result = watched(bad)
    assert result.status == "fail"
    assert result.detail.startswith("Key objective error answers, share of requests failed:")
    assert "Found at evaluation" in result.detail
    bad.refresh_from_db()
    assert bad.status == "verification_failed"
    assert bad.status_detail == f"Post-deploy checks failed: {loader.METRICS_OBJECTIVE} fail."
    rollback = Deployment.objects.get(rollback_of=bad)
    assert rollback.release.version == "0.9.3"  # the release production ran before
    assert Lock.objects.active().filter(environment=production).exists()

    # Without the variable again, the next `make run` takes the objective out.
    monkeypatch.delenv(loader.PROMETHEUS_ENV)
    assert "is off until it is" in loader.metrics_objective_sync()
    assert not Check.objects.get(code=loader.METRICS_OBJECTIVE).is_active
    assert loader.metrics_objective_sync() == ""
