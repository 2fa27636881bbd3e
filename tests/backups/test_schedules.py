from __future__ import annotations

from datetime import timedelta

import pytest
from celery.schedules import crontab, schedule
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection

from audit.models import AuditEvent
from backups import schedules
from backups.models import Database
from backups.services.schedules import database_schedule_change
from core.errors import Denied
from tests.conftest import as_actor

# --- the schedule language -----------------------------------------------------------------------


def test_five_cron_fields_are_a_crontab():
    assert schedules.parse("30 3 * * mon-fri") == crontab(
        minute="30", hour="3", day_of_week="mon-fri"
    )


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("every 60 seconds", timedelta(seconds=60)),
        ("every 15 minutes", timedelta(minutes=15)),
        ("Every 2 hours", timedelta(hours=2)),
        ("every 1 hour", timedelta(hours=1)),
        ("every 30s", timedelta(seconds=30)),
        ("every  5   m", timedelta(minutes=5)),
    ],
)
def test_an_interval_is_written_with_its_unit(text, every):
    assert schedules.parse(text) == schedule(run_every=every)


def test_empty_means_never():
    assert schedules.parse("") is None
    assert schedules.parse("   ") is None
    assert schedules.describe("") == "never"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 2 * *", "has 4 fields: a cron schedule has five"),
        ("0 25 * * *", "The hour “25”"),
        ("x 2 * * *", "The minute “x”"),
        ("0 2 * * 8", "The day of the week “8”"),
        ("0 2 31 2 *", "day_of_month '31' never occurs in month_of_year '2'"),
        ("every fortnight", "is not an interval"),
        ("every 2 seconds", "Run at most every 5 seconds."),
    ],
)
def test_a_wrong_schedule_says_what_is_wrong(text, message):
    with pytest.raises(ValidationError) as refused:
        schedules.validate(text)
    assert message in refused.value.messages[0]


def test_the_defaults_are_the_schedule_every_database_had_before():
    # Until now one crontab in the settings served every database: 02:00, 04:00, every minute.
    assert schedules.parse(schedules.DEFAULT_BACKUP_SCHEDULE) == crontab(hour=2, minute=0)
    assert schedules.parse(schedules.DEFAULT_DRILL_SCHEDULE) == crontab(hour=4, minute=0)
    assert schedules.parse(schedules.DEFAULT_WAL_SCHEDULE) == schedule(timedelta(seconds=60))


# --- what beat reads -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_database_gets_the_default_schedules(project):
    database = Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")

    entries = schedules.beat_entries()

    assert entries == {
        f"database-{database.pk}-backup": {
            "task": "backups.tasks.take_scheduled_backup",
            "schedule": crontab(hour=2, minute=0),
            "args": (database.pk,),
        },
        f"database-{database.pk}-drill": {
            "task": "backups.tasks.run_scheduled_drill",
            "schedule": crontab(hour=4, minute=0),
            "args": (database.pk,),
        },
        f"database-{database.pk}-wal": {
            "task": "backups.tasks.sample_database_wal",
            "schedule": schedule(timedelta(seconds=60)),
            "args": (database.pk,),
        },
    }


@pytest.mark.django_db
def test_beat_leaves_out_switched_off_schedules_and_databases_it_cannot_connect_to(project):
    main = Database.objects.create(
        project=project, name="main", dsn_env="MAIN_URL", drill_schedule=""
    )
    Database.objects.create(project=project, name="reported-only")

    assert set(schedules.beat_entries()) == {
        f"database-{main.pk}-backup",
        f"database-{main.pk}-wal",
    }


@pytest.mark.django_db
def test_a_schedule_written_past_the_validator_stops_only_itself(project):
    main = Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")
    Database.objects.filter(pk=main.pk).update(backup_schedule="at dawn")

    assert set(schedules.beat_entries()) == {f"database-{main.pk}-drill", f"database-{main.pk}-wal"}
    assert "not a schedule" in schedules.describe("at dawn")


# --- changing a schedule -------------------------------------------------------------------------


@pytest.fixture
def main(project) -> Database:  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env="MAIN_URL")


@pytest.mark.django_db
def test_an_admin_changes_the_backup_time_and_the_change_is_audited(admin, main):
    database_schedule_change(
        actor=as_actor(admin),
        database=main,
        backup_schedule=" 30   1 * * * ",
        drill_schedule=main.drill_schedule,
    )

    main.refresh_from_db()
    assert main.backup_schedule == "30 1 * * *"
    event = AuditEvent.objects.get(action="database.schedule_changed")
    assert event.outcome == AuditEvent.Outcome.SUCCESS
    assert event.actor_user_id == admin.pk
    assert event.project_id == main.project_id
    assert event.object_id == str(main.pk)
    # Only what changed: the drill schedule was given as it was.
    assert event.before == {"backup_schedule": "0 2 * * *"}
    assert event.after == {"backup_schedule": "30 1 * * *"}


@pytest.mark.django_db
def test_the_same_schedules_again_write_no_event(admin, main):
    database_schedule_change(
        actor=as_actor(admin),
        database=main,
        backup_schedule="0  2 * * *",
        drill_schedule="0 4 * * *",
        wal_schedule="every 60 seconds",
    )
    assert not AuditEvent.objects.filter(action="database.schedule_changed").exists()


@pytest.mark.django_db
def test_a_schedule_switched_off_is_stored_empty(admin, main):
    database_schedule_change(actor=as_actor(admin), database=main, wal_schedule="")
    main.refresh_from_db()
    assert main.wal_schedule == ""
    assert AuditEvent.objects.get(action="database.schedule_changed").after == {"wal_schedule": ""}


@pytest.mark.django_db
def test_a_wrong_schedule_is_refused_per_field_and_nothing_changes(admin, main):
    with pytest.raises(ValidationError) as refused:
        database_schedule_change(
            actor=as_actor(admin),
            database=main,
            backup_schedule="0 3 * * *",
            drill_schedule="every 1 s",
        )
    assert set(refused.value.message_dict) == {"drill_schedule"}
    main.refresh_from_db()
    assert (main.backup_schedule, main.drill_schedule) == ("0 2 * * *", "0 4 * * *")
    assert not AuditEvent.objects.filter(action="database.schedule_changed").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["viewer", "deployer", "approver"])
def test_only_an_admin_may_change_a_schedule_and_the_refusal_is_audited(persona, request, main):
    user = request.getfixturevalue(persona)
    with pytest.raises(Denied):
        database_schedule_change(actor=as_actor(user), database=main, backup_schedule="* * * * *")

    main.refresh_from_db()
    assert main.backup_schedule == "0 2 * * *"
    event = AuditEvent.objects.get(action="database.schedule_changed")
    assert event.outcome == AuditEvent.Outcome.DENIED
    assert event.actor_user_id == user.pk
    assert event.after == {"backup_schedule": "* * * * *"}


@pytest.mark.django_db
def test_a_change_whose_audit_event_cannot_be_written_is_not_made(admin, main):
    # The event is written in the change's transaction: when writing it fails, so does the change.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION refuse_schedule_events() RETURNS trigger AS $$
            BEGIN
                IF NEW.action = 'database.schedule_changed' THEN
                    RAISE EXCEPTION 'audit store refuses';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_schedule_events BEFORE INSERT ON {AuditEvent._meta.db_table}
                FOR EACH ROW EXECUTE FUNCTION refuse_schedule_events();
            """
        )

    with pytest.raises(DatabaseError, match="audit store refuses"):
        database_schedule_change(actor=as_actor(admin), database=main, backup_schedule="0 3 * * *")

    assert Database.objects.get(pk=main.pk).backup_schedule == "0 2 * * *"
