"""Readiness runs: starting, executing (concurrently, with time limits), safety when repeated,
the reaper, and query counts that do not grow with the number of checks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from checks import gate
from checks.evaluation import evaluate
from checks.kinds import REGISTRY, Kind, Outcome
from checks.kinds.http import validate as http_config
from checks.models import CheckResult, ReadinessRun
from checks.services import runs
from checks.services.runs import MAX_ATTEMPTS, run_execute, run_start, runs_reap
from core.errors import Denied

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def category(project):  # type: ignore[no-untyped-def]
    return CategoryFactory(project=project, key="all", weight=100)


def start(release, environment, user):  # type: ignore[no-untyped-def]
    run, _ = run_start(actor=as_actor(user), release=release, environment=environment)
    return run


def http_checks(project, category, url, count, **config):  # type: ignore[no-untyped-def]
    return [
        CheckFactory(
            project=project,
            category=category,
            code=f"HTTP-{n:03d}",
            kind="http",
            severity="high",
            config=http_config({"url": url, **config}),
        )
        for n in range(count)
    ]


def test_a_run_covers_the_applicable_checks_all_pending_at_first(
    release, environments, deployer, category
):
    project = release.project
    everywhere = CheckFactory(project=project, category=category, code="A-001")
    production_only = CheckFactory(project=project, category=category, code="A-002")
    production_only.environments.add(environments["production"])
    CheckFactory(project=project, category=category, code="A-003", phase="pre-deploy-day")
    CheckFactory(project=project, category=category, code="A-004", phase="during")
    CheckFactory(project=project, category=category, code="A-005", phase="post")
    CheckFactory(project=project, category=category, code="A-006", is_active=False)
    run = start(release, environments["staging"], deployer)
    results = CheckResult.objects.filter(run=run).order_by("check_item__code")
    assert [r.check_item.code for r in results] == ["A-001", "A-003"]
    assert {r.status for r in results} == {"pending"}
    assert results[0].severity == everywhere.severity
    production = start(release, environments["production"], deployer)
    assert production.results.count() == 3
    event = AuditEvent.objects.filter(action="run.started").latest("seq")
    assert event.after == {"release": "1.0.0", "environment": "production", "kind": "readiness"}


def test_starting_a_run_while_one_is_queued_returns_that_run(release, environments, deployer):
    first, created = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    again, created_again = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    other, created_other = run_start(
        actor=as_actor(deployer), release=release, environment=environments["production"]
    )
    assert created_other
    assert other.pk != first.pk
    ReadinessRun.objects.filter(pk=first.pk).update(status="finished")
    fresh, created_fresh = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    assert created_fresh
    assert fresh.pk != first.pk


def test_viewers_cannot_start_runs_and_the_refusal_is_audited(release, environments, viewer):
    with pytest.raises(Denied):
        run_start(actor=as_actor(viewer), release=release, environment=environments["staging"])
    assert not ReadinessRun.objects.exists()
    assert AuditEvent.objects.get(action="run.started").outcome == "denied"


def test_the_database_holds_one_result_per_run_and_check(release, environments, deployer, category):
    CheckFactory(project=release.project, category=category)
    run = start(release, environments["staging"], deployer)
    result = run.results.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckResult.objects.create(
            run=run, check_item=result.check_item, category=category, severity="low"
        )


def test_executing_a_run_scores_it_and_records_the_breakdown(
    release, environments, deployer, category, http_server
):
    project = release.project
    CheckFactory(
        project=project, category=category, code="M-001", kind="manual", severity="critical"
    )
    http_checks(project, category, http_server.url("/ok"), 1)
    run = start(release, environments["staging"], deployer)
    finished = run_execute(run.pk)
    assert finished is not None
    run.refresh_from_db()
    assert run.status == "finished"
    assert run.attempts == 1
    # manual pending (0 of 8) + http pass (4 of 4): 100 × 4 / 12
    assert run.score == Decimal("33.3")
    assert run.breakdown["categories"][0]["score"] == "33.3"
    assert run.breakdown["risk_summary"][-1] == {
        "category": "TOTAL",
        "critical": 1,
        "high": 0,
        "medium": 0,
        "low": 0,
        "total": 1,
    }
    assert all(r.evaluated_at is not None for r in run.results.all())
    assert AuditEvent.objects.filter(action="run.finished").exists()


def test_executing_a_run_twice_is_safe(release, environments, deployer, category, http_server):
    http_checks(release.project, category, http_server.url("/ok"), 3)
    run = start(release, environments["staging"], deployer)
    assert run_execute(run.pk) is not None
    requests = len(http_server.requests)
    assert run_execute(run.pk) is None  # done: left alone
    run.refresh_from_db()
    assert (run.status, run.attempts, run.results.count()) == ("finished", 1, 3)
    assert len(http_server.requests) == requests
    assert AuditEvent.objects.filter(action="run.finished").count() == 1


def test_a_live_run_is_not_taken_over(release, environments, deployer, category):
    CheckFactory(project=release.project, category=category)
    run = start(release, environments["staging"], deployer)
    ReadinessRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert run_execute(run.pk) is None
    run.refresh_from_db()
    assert run.status == "running"
    assert run.results.get().status == "pending"


def test_a_worker_that_lost_its_lease_stops_writing(release, environments, deployer, category):
    CheckFactory(project=release.project, category=category)
    run = start(release, environments["staging"], deployer)
    lease = runs._claim(run.pk, timezone.now())
    assert lease is not None
    ReadinessRun.objects.filter(pk=run.pk).update(lease=None)  # another worker took it over
    assert runs.run_finish(run.pk, lease) is None
    run.refresh_from_db()
    assert run.status == "running"


def test_the_reaper_requeues_a_run_whose_worker_went_silent(
    release, environments, deployer, category, http_server
):
    http_checks(release.project, category, http_server.url("/ok"), 2)
    run = start(release, environments["staging"], deployer)
    silent_since = timezone.now() - runs.STALE_AFTER - timedelta(seconds=1)
    ReadinessRun.objects.filter(pk=run.pk).update(
        status="running", attempts=1, heartbeat_at=silent_since
    )
    fresh = start(release, environments["production"], deployer)  # nothing wrong with it
    assert runs_reap() == [run.pk]
    # The requeued task runs it (as the next worker would) and it ends.
    assert run_execute(run.pk) is not None
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("finished", 2)
    assert {r.status for r in run.results.all()} == {"pass"}
    fresh.refresh_from_db()
    assert fresh.status == "queued"


def test_the_reaper_requeues_a_run_whose_message_was_lost(release, environments, deployer):
    run = start(release, environments["staging"], deployer)
    assert runs_reap() == []
    later = timezone.now() + runs.QUEUED_TOO_LONG + timedelta(seconds=1)
    assert runs_reap(now=later) == [run.pk]


def test_after_the_attempts_limit_the_run_ends_as_error_with_a_reason(
    release, environments, deployer, category
):
    CheckFactory(project=release.project, category=category)
    run = start(release, environments["staging"], deployer)
    ReadinessRun.objects.filter(pk=run.pk).update(
        status="running",
        attempts=MAX_ATTEMPTS,
        heartbeat_at=timezone.now() - runs.STALE_AFTER - timedelta(seconds=1),
    )
    assert runs_reap() == [run.pk]
    run.refresh_from_db()
    assert run.status == "error"
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in run.error
    assert run.finished_at is not None
    assert AuditEvent.objects.get(action="run.failed").message == run.error
    decision = gate.evaluate_gate(release, environments["staging"])
    assert "run_error" in [r.code for r in decision.reasons]


def test_a_redelivered_task_past_the_attempts_limit_ends_the_run(
    release, environments, deployer, category
):
    CheckFactory(project=release.project, category=category)
    run = start(release, environments["staging"], deployer)
    ReadinessRun.objects.filter(pk=run.pk).update(attempts=MAX_ATTEMPTS)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "error"
    assert run.attempts == MAX_ATTEMPTS + 1


def test_a_kind_that_crashes_gives_an_error_result_not_a_stuck_run(
    release, environments, deployer, category, monkeypatch
):
    def crash(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom")

    monkeypatch.setitem(
        REGISTRY, "crashy", Kind("crashy", "test", io_bound=False, validate=dict, evaluate=crash)
    )
    CheckFactory(project=release.project, category=category, kind="crashy")
    run = start(release, environments["staging"], deployer)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "finished"
    result = run.results.get()
    assert result.status == "error"
    assert "RuntimeError: kaboom" in result.detail


def test_io_bound_checks_run_concurrently(release, environments, deployer, category, http_server):
    count, seconds = 20, 0.5
    http_checks(release.project, category, http_server.url(f"/sleep/{seconds}"), count)
    run = start(release, environments["staging"], deployer)
    started = time.perf_counter()
    run_execute(run.pk)
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    assert run.status == "finished"
    assert {r.status for r in run.results.all()} == {"pass"}
    serial = count * seconds
    assert elapsed / serial < 0.35, f"{elapsed:.2f} s for {serial:.1f} s of checks"


def test_a_check_past_the_run_time_limit_fails_on_its_timeout(
    release, environments, deployer, category, http_server, settings
):
    settings.PREFLIGHT_CHECK_TIMEOUT_SECONDS = 1
    http_checks(release.project, category, http_server.url("/sleep/20"), 1, timeout_seconds=30)
    run = start(release, environments["staging"], deployer)
    started = time.perf_counter()
    run_execute(run.pk)
    assert time.perf_counter() - started < 10  # cut at 1 s, not left to answer after 20
    result = CheckResult.objects.get(run=run)
    assert result.status == "fail"
    assert "did not answer within 1 s" in result.detail


def test_a_check_that_ignores_its_time_limit_is_recorded_as_timed_out(
    release, environments, deployer, category, monkeypatch, settings
):
    release_it = threading.Event()

    def hang(ctx):  # type: ignore[no-untyped-def]
        release_it.wait(30)
        return Outcome("pass", "too late")

    monkeypatch.setitem(
        REGISTRY, "hangs", Kind("hangs", "test", io_bound=True, validate=dict, evaluate=hang)
    )
    monkeypatch.setattr(runs, "OVERRUN_GRACE_SECONDS", 0.2)
    settings.PREFLIGHT_CHECK_TIMEOUT_SECONDS = 1
    CheckFactory(project=release.project, category=category, kind="hangs", code="HANG-001")
    CheckFactory(project=release.project, category=category, kind="ci", code="CI-001")
    run = start(release, environments["staging"], deployer)
    started = time.perf_counter()
    try:
        run_execute(run.pk)
        elapsed = time.perf_counter() - started
    finally:
        release_it.set()
    assert elapsed < 10  # recorded at 1 s + grace, not after the 30 s the check would hang
    run.refresh_from_db()
    assert run.status == "finished"
    hung = run.results.get(check_item__code="HANG-001")
    assert (hung.status, hung.detail) == ("error", "Timed out after 1 s.")


def _queries(callable_):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured)


def test_a_run_of_1000_checks_costs_constant_queries_to_start_score_and_gate_and_per_check_to_execute(
    project, environments, deployer, category
):
    from checks.models import Check

    from ..factories import ReleaseFactory

    small_release = ReleaseFactory(project=project, version="1.0.0", created_by=deployer)
    large_release = ReleaseFactory(project=project, version="2.0.0", created_by=deployer)
    staging = environments["staging"]
    CheckFactory(project=project, category=category, kind="ci", code="CI-0000")
    small, start_one = None, 0
    with CaptureQueriesContext(connection) as captured:
        small = start(small_release, staging, deployer)
    start_one = len(captured)
    Check.objects.bulk_create(
        Check(
            project=project,
            category=category,
            code=f"CI-{n:04d}",
            title="CI",
            severity="high",
            kind="ci",
        )
        for n in range(1, 1000)
    )
    with CaptureQueriesContext(connection) as captured:
        large = start(large_release, staging, deployer)
    assert len(captured) == start_one
    assert (small.results.count(), large.results.count()) == (1, 1000)

    execute_one = _queries(lambda: run_execute(small.pk))
    execute_many = _queries(lambda: run_execute(large.pk))
    # Each result is written as soon as it is known, so execution grows with the checks, but by
    # a small constant per check; scoring and finishing do not grow at all.
    assert (execute_many - execute_one) / 999 <= 5

    reads = {}
    for run in (small, large):
        run.refresh_from_db()
        assert run.status == "finished"
        reads[run.results.count()] = (
            _queries(lambda run=run: evaluate(run)),
            _queries(lambda run=run: gate.evaluate_gate(run.release, staging)),
            _queries(lambda run=run: runs.run_rescore(run)),
        )
    assert reads[1] == reads[1000]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_starts_make_one_run(release, environments, deployer, category):
    CheckFactory(project=release.project, category=category)
    barrier = threading.Barrier(8)

    def click(_: int) -> tuple[int, bool]:
        barrier.wait()
        try:
            run, created = run_start(
                actor=as_actor(deployer), release=release, environment=environments["staging"]
            )
            return run.pk, created
        finally:
            connection.close()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(click, range(8)))
    assert len({pk for pk, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    assert ReadinessRun.objects.count() == 1


def test_a_worker_whose_run_was_taken_over_writes_nothing_more(
    release, environments, deployer, category, monkeypatch
):
    def taken_over(ctx):  # type: ignore[no-untyped-def]
        # Another worker takes the run over while this one evaluates the check.
        ReadinessRun.objects.filter(pk=run.pk).update(lease=None)
        return Outcome("pass", "late")

    monkeypatch.setitem(
        REGISTRY,
        "slowpoke",
        Kind("slowpoke", "test", io_bound=False, validate=dict, evaluate=taken_over),
    )
    CheckFactory(project=release.project, category=category, kind="slowpoke", code="A-001")
    CheckFactory(project=release.project, category=category, kind="ci", code="B-001")
    run = start(release, environments["staging"], deployer)
    assert run_execute(run.pk) is None
    run.refresh_from_db()
    assert run.status == "running"  # the new holder finishes it
    assert set(run.results.values_list("status", flat=True)) == {"pending"}
    assert not AuditEvent.objects.filter(action="run.finished").exists()
