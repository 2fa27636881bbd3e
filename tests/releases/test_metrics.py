from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.metrics import (
    DeploymentFact,
    Window,
    compute,
    delivery_metrics,
    incidents_of,
    load_facts,
)
from tests.factories import DeploymentFactory, ReleaseFactory

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = Window.last_days(7, now=NOW)  # 2026-11-19 00:00 → 2026-11-26 00:00
DEV, PROD = 1, 2


def fact(
    n: int, *, at: datetime, env: int = PROD, status: str = "verified", **kw
) -> DeploymentFact:  # type: ignore[no-untyped-def]
    kw.setdefault("release_id", n)
    kw.setdefault("version", f"1.0.{kw['release_id']}")
    kw.setdefault("release_created_at", at - timedelta(hours=10))
    kw.setdefault("finished_at", at + timedelta(minutes=5))
    if status == "verified":
        kw.setdefault("verified_at", at + timedelta(minutes=10))
    return DeploymentFact(id=n, environment_id=env, status=status, started_at=at, **kw)


def metrics(facts: list[DeploymentFact]):  # type: ignore[no-untyped-def]
    return compute(facts, window=WINDOW, environment_ids=[DEV, PROD], production_id=PROD)


def day(n: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, 18 + n, hour, tzinfo=UTC)


# Window ---------------------------------------------------------------------------------------


def test_a_window_of_the_last_days_ends_with_today() -> None:
    assert WINDOW.start == datetime(2026, 11, 19, tzinfo=UTC)
    assert WINDOW.end == datetime(2026, 11, 26, tzinfo=UTC)
    assert WINDOW.days == 7
    assert WINDOW.last_day == date(2026, 11, 25)


def test_a_window_between_two_dates_includes_both() -> None:
    window = Window.between(date(2026, 11, 1), date(2026, 11, 3))
    assert window.days == 3
    assert window.end == datetime(2026, 11, 4, tzinfo=UTC)


def test_short_windows_have_daily_buckets_and_long_ones_weekly() -> None:
    assert len(WINDOW.bucket_starts()) == 7
    ninety = Window.last_days(90, now=NOW)
    assert ninety.bucket == timedelta(days=7)
    assert len(ninety.bucket_starts()) == 13  # 12 whole weeks and a 6-day rest


# Deployment frequency -------------------------------------------------------------------------


def test_frequency_counts_only_verified_deployments_per_environment() -> None:
    result = metrics(
        [
            fact(1, at=day(1)),
            fact(2, at=day(2)),
            fact(3, at=day(3), status="failed"),
            fact(4, at=day(3), status="succeeded"),
            fact(5, at=day(4), env=DEV),
        ]
    )
    prod = result.environments[PROD]
    assert prod.verified == 2
    assert prod.per_day == pytest.approx(2 / 7)
    assert prod.per_week == pytest.approx(2.0)
    assert result.environments[DEV].verified == 1


def test_deployments_outside_the_window_are_not_counted() -> None:
    result = metrics(
        [
            fact(1, at=WINDOW.start - timedelta(seconds=1)),
            fact(2, at=WINDOW.end),
            fact(3, at=day(1)),
        ]
    )
    assert result.environments[PROD].verified == 1


def test_each_bucket_counts_the_deployments_that_started_in_it() -> None:
    result = metrics(
        [fact(1, at=day(1)), fact(2, at=day(1, 23)), fact(3, at=day(3), status="failed")]
    )
    buckets = result.environments[PROD].buckets
    assert [b.verified for b in buckets] == [2, 0, 0, 0, 0, 0, 0]
    assert [b.failures for b in buckets] == [0, 0, 1, 0, 0, 0, 0]
    assert buckets[0].start == WINDOW.start


# Lead time ------------------------------------------------------------------------------------


def test_lead_time_runs_from_release_creation_to_verification_in_production() -> None:
    created = day(1) - timedelta(hours=20)
    result = metrics([fact(1, at=day(1), release_created_at=created)])
    (lead,) = result.lead_times
    assert lead.duration == day(1) + timedelta(minutes=10) - created
    assert result.lead_time == lead.duration


def test_lead_time_takes_the_first_verified_production_deployment_of_a_release() -> None:
    created = day(0)
    result = metrics(
        [
            fact(1, at=day(2), release_id=7, release_created_at=created),
            fact(2, at=day(4), release_id=7, release_created_at=created),
        ]
    )
    assert [lt.verified_at for lt in result.lead_times] == [day(2) + timedelta(minutes=10)]


def test_lead_time_leaves_out_rollbacks_other_environments_and_unverified_deployments() -> None:
    result = metrics(
        [
            fact(1, at=day(1), is_rollback=True),
            fact(2, at=day(1), env=DEV),
            fact(3, at=day(2), status="succeeded"),
            fact(4, at=day(2), status="verification_failed"),
        ]
    )
    assert result.lead_times == []
    assert result.lead_time is None


def test_lead_time_is_the_median_over_releases() -> None:
    result = metrics(
        [
            fact(1, at=day(1), release_created_at=day(1) - timedelta(hours=1), verified_at=day(1)),
            fact(2, at=day(2), release_created_at=day(2) - timedelta(hours=2), verified_at=day(2)),
            fact(3, at=day(3), release_created_at=day(3) - timedelta(hours=9), verified_at=day(3)),
        ]
    )
    assert result.lead_time == timedelta(hours=2)


# Change failure rate --------------------------------------------------------------------------


def test_change_failure_rate_counts_failed_verification_failed_and_rolled_back() -> None:
    result = metrics(
        [
            fact(1, at=day(1)),
            fact(2, at=day(2), status="failed"),
            fact(3, at=day(3), status="verification_failed"),
            fact(4, at=day(4), rolled_back_at=day(4, 12)),
            fact(5, at=day(5), is_rollback=True),
        ]
    )
    prod = result.environments[PROD]
    assert (prod.failures, prod.finished) == (3, 5)
    assert prod.change_failure_rate == pytest.approx(0.6)


def test_a_deployment_in_progress_is_not_yet_a_change_to_rate() -> None:
    result = metrics([fact(1, at=day(1)), fact(2, at=day(2), status="in_progress")])
    assert result.environments[PROD].finished == 1
    assert result.environments[PROD].change_failure_rate == 0


def test_an_environment_without_deployments_has_no_failure_rate() -> None:
    result = metrics([])
    assert result.environments[DEV].change_failure_rate is None
    assert result.environments[DEV].time_to_restore is None


def test_a_failed_deployment_that_was_rolled_back_counts_once() -> None:
    result = metrics([fact(1, at=day(1), status="failed", rolled_back_at=day(1, 11))])
    assert result.environments[PROD].failures == 1


# Time to restore ------------------------------------------------------------------------------


def test_time_to_restore_runs_from_the_failure_to_the_next_verified_deployment() -> None:
    failed = fact(
        1,
        at=day(1),
        status="failed",
        finished_at=day(1, 11),
        restored_by=2,
        restored_at=day(1, 14),
    )
    prod = metrics([failed, fact(2, at=day(1, 13))]).environments[PROD]
    (incident,) = prod.incidents
    assert incident.time_to_restore == timedelta(hours=3)
    assert prod.time_to_restore == timedelta(hours=3)


def test_a_rolled_back_good_deployment_failed_when_its_rollback_started() -> None:
    bad = fact(1, at=day(1), rolled_back_at=day(2), restored_by=2, restored_at=day(2, 11))
    (incident,) = incidents_of([bad])
    assert incident.failed_at == day(2)
    assert incident.time_to_restore == timedelta(hours=1)


def test_failures_restored_by_the_same_deployment_are_one_incident() -> None:
    first = fact(
        1, at=day(1), status="failed", finished_at=day(1, 11), restored_by=3, restored_at=day(2)
    )
    second = fact(
        2, at=day(1, 15), status="failed", finished_at=day(1, 16), restored_by=3, restored_at=day(2)
    )
    prod = metrics([first, second]).environments[PROD]
    (incident,) = prod.incidents
    assert incident.deployments == (1, 2)
    assert incident.time_to_restore == timedelta(hours=23)
    assert prod.failures == 2


def test_a_failure_not_yet_restored_is_an_open_incident() -> None:
    prod = metrics([fact(1, at=day(1), status="verification_failed")]).environments[PROD]
    assert len(prod.open_incidents) == 1
    assert prod.restored == []
    assert prod.time_to_restore is None


def test_time_to_restore_is_the_median_over_incidents() -> None:
    facts = [
        fact(
            n,
            at=day(n),
            status="failed",
            finished_at=day(n),
            restored_by=10 + n,
            restored_at=day(n) + timedelta(hours=h),
        )
        for n, h in ((1, 1), (2, 5), (3, 2))
    ]
    assert metrics(facts).environments[PROD].time_to_restore == timedelta(hours=2)


# Loading from the database --------------------------------------------------------------------


@pytest.fixture
def history(project, environments):  # type: ignore[no-untyped-def]
    """In production: 1.0.0 verified, 1.1.0 verified then rolled back to 1.0.0 (verified)."""
    prod = environments["production"]
    base = datetime.now(UTC) - timedelta(days=3)
    old = ReleaseFactory(project=project, version="1.0.0", created_at=base - timedelta(hours=6))
    new = ReleaseFactory(project=project, version="1.1.0", created_at=base)
    good = DeploymentFactory(
        release=old, environment=prod, started_at=base - timedelta(hours=1), verified_at=base
    )
    bad = DeploymentFactory(
        release=new,
        environment=prod,
        started_at=base + timedelta(hours=1),
        finished_at=base + timedelta(hours=1, minutes=5),
        verified_at=base + timedelta(hours=1, minutes=10),
    )
    rollback = DeploymentFactory(
        release=old,
        environment=prod,
        rollback_of=bad,
        started_at=base + timedelta(hours=2),
        verified_at=base + timedelta(hours=2, minutes=30),
    )
    return {"good": good, "bad": bad, "rollback": rollback, "base": base}


@pytest.mark.django_db
def test_facts_know_which_deployment_was_rolled_back_and_what_restored_it(history) -> None:  # type: ignore[no-untyped-def]
    prod = history["good"].environment
    facts = {f.id: f for f in load_facts([prod], Window.last_days(7, now=datetime.now(UTC)))}
    bad = facts[history["bad"].pk]
    assert bad.rolled_back_at == history["rollback"].started_at
    assert bad.restored_by == history["rollback"].pk
    assert bad.restored_at == history["rollback"].verified_at
    assert facts[history["rollback"].pk].is_rollback
    assert facts[history["good"].pk].rolled_back_at is None


@pytest.mark.django_db
def test_delivery_metrics_of_a_project_from_its_records(history, environments) -> None:  # type: ignore[no-untyped-def]
    result = delivery_metrics(
        history["good"].release.project, Window.last_days(7, now=datetime.now(UTC))
    )
    prod = result.production
    assert prod is not None
    assert prod.environment_id == environments["production"].pk
    assert (prod.verified, prod.finished, prod.failures) == (3, 3, 1)
    (incident,) = prod.incidents
    assert incident.time_to_restore == timedelta(minutes=30)
    assert [lt.version for lt in result.lead_times] == ["1.0.0", "1.1.0"]
    assert result.lead_times[1].duration == timedelta(hours=1, minutes=10)


@pytest.mark.django_db
def test_delivery_metrics_take_two_queries_however_many_deployments(project, environments) -> None:  # type: ignore[no-untyped-def]
    window = Window.last_days(30, now=datetime.now(UTC))
    prod = environments["production"]
    release = ReleaseFactory(project=project)
    DeploymentFactory(release=release, environment=prod)
    with CaptureQueriesContext(connection) as one:
        delivery_metrics(project, window)
    start = datetime.now(UTC) - timedelta(days=20)
    for n in range(200):
        DeploymentFactory(
            release=release,
            environment=environments["staging" if n % 2 else "production"],
            started_at=start + timedelta(hours=n),
            status="failed" if n % 7 == 0 else "verified",
            verified_at=start + timedelta(hours=n, minutes=5),
        )
    with CaptureQueriesContext(connection) as many:
        result = delivery_metrics(project, window)
    assert len(one) == len(many) == 2
    assert result.environments[prod.pk].finished == 101
