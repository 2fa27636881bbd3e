"""/metrics in one process: who may scrape it, and what it says after real requests and runs.
Across processes (gunicorn workers, a Celery worker) see test_servers.py and test_worker.py."""

from __future__ import annotations

import io
import math
from datetime import timedelta

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.actors import Actor
from audit.models import ChainVerification
from audit.services import record
from audit.tasks import verify_chain
from backups.models import Backup, Database, RestoreDrill
from checks.models import ReadinessRun
from checks.services.runs import run_execute, run_start
from preflight.celery import app as celery_app

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory
from .helpers import TOKEN, families, parse, value

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings) -> str:
    settings.PREFLIGHT_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client: Client | None = None) -> str:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_metrics_do_not_exist_while_no_token_is_configured(settings) -> None:
    settings.PREFLIGHT_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", "Bearer"],
)
def test_a_scrape_without_the_right_bearer_token_is_refused(token, header) -> None:
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = Client().get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"preflight_" not in response.content


def test_metrics_need_no_login_but_their_token_opens_no_page(token) -> None:
    client = Client()
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    page = client.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert page.status_code == 302
    assert page["Location"].startswith("/login/")


def test_requests_are_counted_by_route_name_and_status_never_by_path(
    token, ci, open_dev, environments
) -> None:
    before = parse(scrape())
    for _ in range(2):
        assert (
            ci.get("/api/v1/projects/shop/releases/1.0.0/gate/?environment=development").status_code
            == 200
        )
    assert (
        ci.get("/api/v1/projects/shop/releases/9.9.9/gate/?environment=development").status_code
        == 404
    )
    assert Client().get("/no/such/page").status_code == 404
    text = scrape()
    after = parse(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"route": "api:gate", "method": "GET", "status": "200"}
    assert delta("preflight_http_requests_total", **ok) == 2
    assert delta("preflight_http_requests_total", **(ok | {"status": "404"})) == 1
    assert (
        delta("preflight_http_requests_total", route="unresolved", method="GET", status="404") == 1
    )
    assert (
        delta("preflight_http_request_duration_seconds_count", route="api:gate", method="GET") == 3
    )
    # No version, slug or path ever becomes a label value.
    for line in text.splitlines():
        if line.startswith("preflight_http_"):
            for leaked in ("1.0.0", "9.9.9", "/no/such"):
                assert leaked not in line, line


def test_gate_answers_are_counted_by_outcome(token, ci, open_dev, environments) -> None:
    before = parse(scrape())
    assert ci.get("/api/v1/projects/shop/releases/1.0.0/gate/?environment=development").json()[
        "allowed"
    ]
    production = ci.get("/api/v1/projects/shop/releases/1.0.0/gate/?environment=production")
    assert production.json()["allowed"] is False
    after = parse(scrape())
    for outcome in ("allowed", "closed"):
        name = "preflight_gate_answers_total"
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1


def test_runs_and_check_evaluations_are_counted_with_their_durations(
    token, release, environments, deployer, django_capture_on_commit_callbacks
) -> None:
    category = CategoryFactory(project=release.project, key="all", weight=100)
    CheckFactory(project=release.project, category=category, code="CI-1", kind="ci")
    before = parse(scrape())
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    # The worker's task, called here: what it counts is this process's. A run is counted once its
    # end is committed.
    with django_capture_on_commit_callbacks(execute=True):
        run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == ReadinessRun.Status.FINISHED
    after = parse(scrape())
    labels = {"kind": "readiness", "status": "finished"}
    assert (
        value(after, "preflight_readiness_runs_total", **labels)
        - value(before, "preflight_readiness_runs_total", **labels)
        == 1
    )
    assert (
        value(after, "preflight_readiness_run_duration_seconds_count", **labels)
        - value(before, "preflight_readiness_run_duration_seconds_count", **labels)
        == 1
    )
    result = run.results.get()
    evaluated = {"kind": "ci", "status": result.status}
    assert (
        value(after, "preflight_check_evaluations_total", **evaluated)
        - value(before, "preflight_check_evaluations_total", **evaluated)
        == 1
    )


def test_backup_drill_audit_run_and_queue_state_is_read_at_scrape_time(
    token, project, release, environments, deployer, settings
) -> None:
    now = timezone.now()
    fresh = Database.objects.create(project=project, name="orders")
    Backup.objects.create(
        database=fresh,
        status="succeeded",
        verified=True,
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=1),
    )
    RestoreDrill.objects.create(
        database=fresh, status="passed", finished_at=now - timedelta(days=3)
    )
    RestoreDrill.objects.create(
        database=fresh, status="failed", finished_at=now - timedelta(days=1)
    )
    never = Database.objects.create(project=project, name="ledger")
    # An unverified backup does not count as one.
    Backup.objects.create(database=never, status="succeeded", verified=False, started_at=now)
    run_start(actor=as_actor(deployer), release=release, environment=environments["staging"])

    queue = redis.Redis.from_url(settings.REDIS_URL)
    queue.delete("celery")
    for _ in range(3):
        celery_app.send_task("releases.tasks.expire_locks")

    before_verification = parse(scrape())
    # Never verified: unverified since the chain's first event, moments ago.
    assert value(before_verification, "preflight_audit_chain_verification_age_seconds") < 60
    assert "preflight_audit_chain_intact" not in before_verification
    verify_chain.apply()  # the hourly task, here
    samples = parse(scrape())
    queue.delete("celery")

    orders = {"project": "shop", "database": "orders"}
    ledger = {"project": "shop", "database": "ledger"}
    assert 3500 < value(samples, "preflight_backup_age_seconds", **orders) < 3700
    assert value(samples, "preflight_backup_max_age_seconds", **orders) == 26 * 3600
    assert value(samples, "preflight_backup_age_seconds", **ledger) == math.inf
    # The last drill to end failed; the last one to pass is three days old.
    assert value(samples, "preflight_restore_drill_last_passed", **orders) == 0
    assert (
        3 * 86400 - 100
        < value(samples, "preflight_restore_drill_age_seconds", **orders)
        < 3 * 86400 + 100
    )
    assert value(samples, "preflight_restore_drill_max_age_seconds", **orders) == 30 * 86400
    assert ledger not in [dict(k) for k in samples["preflight_restore_drill_last_passed"]]
    assert value(samples, "preflight_restore_drill_age_seconds", **ledger) == math.inf
    assert value(samples, "preflight_audit_chain_verification_age_seconds") < 60
    assert value(samples, "preflight_audit_chain_intact") == 1
    assert value(samples, "preflight_readiness_runs_active", status="queued") == 1
    assert value(samples, "preflight_celery_queue_length", queue="celery") == 3
    for part in ("backups", "audit", "runs", "queue"):
        assert value(samples, "preflight_state_up", part=part) == 1


def test_a_chain_found_broken_stops_counting_as_verified(token) -> None:
    for n in range(3):
        record(actor=Actor.of_system("test"), action="thing.done", after={"n": n})
    ChainVerification.objects.create(
        verified_at=timezone.now() - timedelta(hours=5), head_seq=3, checked=3, ok=True
    )
    call_command("verify_audit", stdout=io.StringIO())
    assert value(parse(scrape()), "preflight_audit_chain_verification_age_seconds") < 60
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE seq = 1")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    ChainVerification.objects.filter(verified_at__gt=timezone.now() - timedelta(hours=1)).delete()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=io.StringIO())
    samples = parse(scrape())
    assert value(samples, "preflight_audit_chain_intact") == 0
    # The age runs from the last verification that found it intact, five hours ago.
    assert (
        5 * 3600 - 60
        < value(samples, "preflight_audit_chain_verification_age_seconds")
        < 5 * 3600 + 60
    )


def test_every_family_of_the_web_server_is_described(token) -> None:
    names = families(scrape())
    assert {
        "preflight_backup_age_seconds",
        "preflight_restore_drill_last_passed",
        "preflight_audit_chain_verification_age_seconds",
        "preflight_celery_queue_length",
        "preflight_readiness_runs_active",
        "preflight_state_up",
    } <= names
