"""The backup kind: reads the backups the backups app records for the project's database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backups.models import Backup, Database, RestoreDrill
from checks.kinds import ConfigError, get_kind
from checks.kinds.backup import evaluate

from .conftest import context

pytestmark = pytest.mark.django_db


@pytest.fixture
def database(project):  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env="SHOP_DATABASE_URL")


def probe(require="both"):  # type: ignore[no-untyped-def]
    return evaluate(
        context("backup", {"database": "main", "require": require}, project_slug="shop")
    )


def backup(database, hours_ago, **fields):  # type: ignore[no-untyped-def]
    started = timezone.now() - timedelta(hours=hours_ago)
    values = {
        "status": "succeeded",
        "verified": True,
        "finished_at": started + timedelta(minutes=5),
    }
    return Backup.objects.create(database=database, started_at=started, **{**values, **fields})


def drill(database, days_ago, status="passed"):  # type: ignore[no-untyped-def]
    finished = timezone.now() - timedelta(days=days_ago)
    return RestoreDrill.objects.create(
        database=database, status=status, started_at=finished - timedelta(minutes=7),
        finished_at=finished, restore_seconds=412.0, error="" if status == "passed" else "row counts differ",
    )  # fmt: skip


def test_pending_while_nothing_is_tracked(project):
    outcome = probe()
    assert outcome.status == "pending"
    assert "No backups of main" in outcome.detail


def test_a_recent_verified_backup_and_a_recent_passed_drill_pass(database):
    backup(database, 3)
    drill(database, 2)
    outcome = probe()
    assert outcome.status == "pass"
    assert "restored in 412.0 s" in outcome.detail


def test_an_old_or_unverified_backup_fails(database):
    drill(database, 2)
    backup(database, 3, verified=False)
    assert "No verified backup of main" in probe().detail
    backup(database, 48)
    outcome = probe("backup")
    assert outcome.status == "fail"
    assert outcome.detail.startswith("The last verified backup is 1\xa0day")


def test_a_failed_or_old_drill_fails(database):
    backup(database, 3)
    assert "no restore drill" in probe("drill").detail.lower()
    drill(database, 40)
    assert "The last passed restore drill is 1\xa0month" in probe("drill").detail
    drill(database, 1, status="failed")
    outcome = probe("drill")
    assert outcome.status == "fail"
    assert "failed: row counts differ" in outcome.detail
    assert probe("backup").status == "pass"


def test_invalid_configs_are_refused():
    for config, field in (({}, "database"), ({"database": "main", "require": "all"}, "require")):
        with pytest.raises(ConfigError) as refused:
            get_kind("backup").validate(config)
        assert refused.value.field == field


@pytest.mark.parametrize(
    ("hours_ago", "fields", "stale"),
    [
        (1, {}, False),
        (30, {}, True),
        (1, {"verified": False}, True),
        (1, {"deleted_at": timezone.now()}, True),
        (25.95, {"finished_at": None}, False),
    ],
)
def test_the_check_the_backup_watch_and_the_backups_page_judge_a_backup_alike(
    database, hours_ago, fields, stale
):
    from backups.panels import database_panel
    from backups.services.watch import freshness

    backup(database, hours_ago, **fields)

    now = timezone.now()
    watch_problem, _ = freshness(database, now)
    assert (probe("backup").status == "fail") is stale
    assert bool(watch_problem) is stale
    assert database_panel(database, now=now).backup_problem == watch_problem


def test_the_newest_backup_counts_even_when_an_older_one_has_no_finish_time(database):
    # PostgreSQL sorts a missing finish time first when newest-first; the age rule (taken_at)
    # falls back to the start, and so must the choice of the newest backup.
    backup(database, 72, finished_at=None)
    backup(database, 1)
    assert probe("backup").status == "pass"


def test_a_run_for_a_past_moment_does_not_count_a_later_drill(database):
    backup(database, hours_ago=2)
    drill(database, days_ago=1)
    config = {"database": "main", "require": "drill"}
    before = evaluate(
        context(
            "backup",
            config,
            project_slug="shop",
            as_of=timezone.now() - timedelta(days=3),
        )
    )
    assert (before.status, before.detail) == ("fail", "No restore drill of main has run.")
    then = evaluate(
        context("backup", config, project_slug="shop", as_of=timezone.now() - timedelta(hours=1))
    )
    assert then.status == "pass"
    assert then.detail.startswith("Restore drill passed 23\xa0hours ago")
