"""The database scheduler, driven the way ``celery beat`` drives it, minus the broker: what it
schedules, how it follows changes, and what it remembers across a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab, schedule
from django.utils import timezone

from backups.models import Database
from preflight.beat.models import EntryState
from preflight.beat.scheduler import DatabaseScheduler
from preflight.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def read_every_time(settings):  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_BEAT_REFRESH_SECONDS = 0
    return settings


def scheduler() -> DatabaseScheduler:
    """A beat starting: what ``celery beat`` builds when it starts."""
    return DatabaseScheduler(app=app)


@pytest.fixture
def main(project) -> Database:  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")


def test_celery_beat_uses_the_database_scheduler():
    assert app.conf.beat_scheduler == "preflight.beat.scheduler:DatabaseScheduler"


def test_the_schedule_is_the_settings_entries_plus_each_database_s(settings, main):
    entries = scheduler().schedule

    for name, fields in settings.CELERY_BEAT_SCHEDULE.items():
        assert entries[name].task == fields["task"]
    backup = entries[f"database-{main.pk}-backup"]
    assert backup.task == "backups.tasks.take_scheduled_backup"
    assert backup.args == (main.pk,)
    assert backup.schedule == crontab(hour=2, minute=0)
    assert entries[f"database-{main.pk}-wal"].schedule == schedule(timedelta(seconds=60))
    # The backups used to be one settings entry for every database; they are not any more.
    assert {e.task for e in entries.values()}.isdisjoint(
        {"backups.tasks.take_scheduled_backups", "backups.tasks.run_scheduled_drills"}
    )


def test_a_changed_schedule_is_followed_without_a_restart(main):
    beat = scheduler()
    assert beat.schedule[f"database-{main.pk}-backup"].schedule == crontab(hour=2, minute=0)

    Database.objects.filter(pk=main.pk).update(backup_schedule="every 10 seconds", wal_schedule="")

    entries = beat.schedule
    assert entries[f"database-{main.pk}-backup"].schedule == schedule(timedelta(seconds=10))
    assert f"database-{main.pk}-wal" not in entries


def test_an_entry_first_seen_runs_one_interval_later_and_is_remembered(main):
    before = timezone.now()
    beat = scheduler()

    entry = beat.schedule[f"database-{main.pk}-wal"]
    due, next_in = entry.is_due()
    assert not due
    assert 0 < next_in <= 60
    state = EntryState.objects.get(name=f"database-{main.pk}-wal")
    assert state.last_run_at >= before
    assert state.total_run_count == 0


def test_a_restarted_beat_carries_on_from_when_each_entry_last_ran(main):
    name = f"database-{main.pk}-wal"
    EntryState.objects.create(name=name, last_run_at=timezone.now() - timedelta(minutes=1))
    beat = scheduler()
    assert beat.schedule[name].is_due()[0]  # it ran a minute ago: due again

    ran = beat.reserve(beat.schedule[name])  # what beat does as it sends the task
    beat.sync()

    state = EntryState.objects.get(name=name)
    assert state.last_run_at == ran.last_run_at
    assert state.total_run_count == 1
    restarted = scheduler().schedule[name]
    assert not restarted.is_due()[0]
    assert restarted.total_run_count == 1


def test_a_schedule_switched_off_forgets_when_it_last_ran(admin, main):
    name = f"database-{main.pk}-drill"
    beat = scheduler()
    assert EntryState.objects.filter(name=name).exists()

    Database.objects.filter(pk=main.pk).update(drill_schedule="")
    assert name not in beat.schedule

    assert not EntryState.objects.filter(name=name).exists()


def test_the_procfile_s_beat_runs_the_database_scheduler():
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    beat = next(line for line in procfile.splitlines() if line.startswith("beat:"))
    assert "--scheduler=preflight.beat.scheduler:DatabaseScheduler" in beat
    assert "--schedule=" not in beat
