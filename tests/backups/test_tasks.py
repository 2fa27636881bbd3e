from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from backups import tasks
from backups.models import Backup, Database, RestoreDrill, WalSample
from backups.services.drills import drill_request
from tests.backups.helpers import task_callbacks
from tests.conftest import as_actor

pytestmark = pytest.mark.django_db


def test_the_schedule_backs_up_and_drills_only_databases_it_can_reach(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    reachable = Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")
    Database.objects.create(project=project, name="unset", dsn_env="UNSET_URL")
    Database.objects.create(project=project, name="reported-only")
    monkeypatch.setenv("MAIN_URL", "postgres://preflight@127.0.0.1:1/main")
    monkeypatch.delenv("UNSET_URL", raising=False)

    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.take_scheduled_backups() == 1
        assert tasks.run_scheduled_drills() == 1

    assert len(task_callbacks(callbacks)) == 2
    backup = Backup.objects.get()
    assert backup.database == reachable
    assert backup.status == Backup.Status.RUNNING
    assert RestoreDrill.objects.get().database == reachable
    assert RestoreDrill.objects.get().requested_by_label == "system:drill-schedule"


def test_a_drill_of_a_database_without_a_connection_string_is_refused(approver, project):
    database = Database.objects.create(project=project, name="reported-only")
    with pytest.raises(ValidationError) as refused:
        drill_request(actor=as_actor(approver), database=database)
    assert "names no environment variable for its connection string" in str(
        refused.value.message_dict["database"]
    )
    assert not RestoreDrill.objects.exists()


def test_the_backup_schedule_delivered_twice_queues_one_backup_per_database(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")
    monkeypatch.setenv("MAIN_URL", "postgres://preflight@127.0.0.1:1/main")

    with django_capture_on_commit_callbacks() as callbacks:
        tasks.take_scheduled_backups()
        tasks.take_scheduled_backups()

    assert Backup.objects.count() == 1
    assert len(task_callbacks(callbacks)) == 1


def test_a_database_s_own_schedule_backs_up_drills_and_samples_that_database(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    main = Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")
    other = Database.objects.create(project=project, name="other", dsn_env="MAIN_URL")
    monkeypatch.setenv("MAIN_URL", "postgres://preflight@127.0.0.1:1/main")

    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.take_scheduled_backup(main.pk) is True
        assert tasks.take_scheduled_backup(main.pk) is True  # delivered twice: one backup
        assert tasks.run_scheduled_drill(main.pk) is True
        assert tasks.sample_database_wal(main.pk) is True

    assert len(task_callbacks(callbacks)) == 2
    assert Backup.objects.get().database == main
    drill = RestoreDrill.objects.get()
    assert (drill.database, drill.requested_by_label) == (main, "system:drill-schedule")
    assert list(WalSample.objects.values_list("database", flat=True)) == [main.pk]
    assert not other.backups.exists()


def test_a_scheduled_task_for_a_database_gone_or_out_of_reach_does_nothing(project, monkeypatch):
    unset = Database.objects.create(project=project, name="unset", dsn_env="UNSET_URL")
    reported = Database.objects.create(project=project, name="reported-only")
    monkeypatch.delenv("UNSET_URL", raising=False)

    for database_id in (unset.pk, reported.pk, 999_999):
        assert tasks.take_scheduled_backup(database_id) is False
        assert tasks.run_scheduled_drill(database_id) is False
        assert tasks.sample_database_wal(database_id) is False

    assert not Backup.objects.exists()
    assert not RestoreDrill.objects.exists()
    assert not WalSample.objects.exists()
