from __future__ import annotations

import os

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from backups import pg, storage
from backups.models import Backup, Database, RestoreDrill
from backups.services.drills import drill_execute, drill_request
from backups.services.taking import backup_take_now
from checks.kinds import get_kind
from checks.kinds.base import CheckContext
from core.errors import Denied
from tests.backups.helpers import hanging_pg_tools
from tests.conftest import as_actor

from .conftest import DSN_ENV, EXPECTED_ROWS, KEY_ENV, new_key, scratch_databases, server_dsn

pytestmark = pytest.mark.django_db


def _drill(approver, database: Database, backup: Backup | None = None) -> RestoreDrill:  # type: ignore[no-untyped-def]
    drill = drill_request(actor=as_actor(approver), database=database, backup=backup)
    drill_execute(drill.pk)
    drill.refresh_from_db()
    return drill


def source_dsn_of(database: Database) -> str:
    return os.environ[database.dsn_env]


def _failed(drill: RestoreDrill) -> list[str]:
    return [v["name"] for v in drill.validations if not v["passed"]]


def test_a_drill_restores_the_latest_backup_and_matches_every_row_count(approver, database):
    backup = backup_take_now(database)
    assert backup.verified
    assert backup.manifest == EXPECTED_ROWS

    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.PASSED, drill.error
    assert drill.backup_id == backup.pk
    rows = {v["name"]: (v["expected"], v["actual"]) for v in drill.validations if "expected" in v}
    assert rows == {f"rows in {t}": (n, n) for t, n in EXPECTED_ROWS.items()} | {
        "checksum": (backup.sha256, backup.sha256)
    }
    assert {"name": "every order has its customer", "passed": True, "detail": "holds"} in (
        drill.validations
    )
    assert drill.restore_seconds is not None
    assert drill.restore_seconds > 0
    assert drill.data_age_seconds is not None
    assert drill.data_age_seconds > 0
    assert drill.attempts == 1
    assert scratch_databases() == []
    event = AuditEvent.objects.get(action="drill.finished")
    assert event.outcome == "success"
    assert event.object_id == str(drill.pk)


def test_a_drill_without_a_backup_takes_one_first(approver, database):
    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.PASSED, drill.error
    taken = Backup.objects.get(database=database)
    assert drill.backup_id == taken.pk
    assert taken.source == Backup.Source.TAKEN


def test_a_corrupted_backup_fails_on_its_checksum_before_anything_is_restored(
    approver, database, monkeypatch
):
    backup = backup_take_now(database)
    path = storage.local_path(backup.location)
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    # The drill connects as a role that may not create databases: had it tried to create the
    # scratch database before checking the file, it would fail on that instead.
    role = "drill_cannot_create"
    with psycopg.connect(server_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        monkeypatch.setenv(
            DSN_ENV, pg.dsn_for(source_dsn_of(database), "postgres") + f" user={role}"
        )
        drill = _drill(approver, database)
    finally:
        with psycopg.connect(server_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")

    assert drill.status == RestoreDrill.Status.FAILED
    assert drill.error.startswith("Checksum mismatch"), drill.error
    assert "nothing was restored" in drill.error
    assert [(v["name"], v["passed"]) for v in drill.validations] == [("checksum", False)]
    assert drill.restore_seconds is None
    assert scratch_databases() == []
    assert not AuditEvent.objects.filter(action="drill.finished", outcome="success").exists()


def test_the_same_drill_as_a_role_that_cannot_create_databases_fails_on_that(
    approver, database, monkeypatch
):
    """The control for the test above: with an intact file, the role's limit is what fails."""
    backup_take_now(database)
    role = "drill_cannot_create"
    with psycopg.connect(server_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        monkeypatch.setenv(
            DSN_ENV, pg.dsn_for(source_dsn_of(database), "postgres") + f" user={role}"
        )
        drill = _drill(approver, database)
    finally:
        with psycopg.connect(server_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")

    assert drill.status == RestoreDrill.Status.FAILED
    assert "permission denied to create database" in drill.error


def test_a_table_missing_from_the_restored_copy_fails_the_drill_by_name(approver, database):
    backup = backup_take_now(database)
    Backup.objects.filter(pk=backup.pk).update(manifest={**backup.manifest, "public.refunds": 12})

    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.FAILED
    assert _failed(drill) == ["table public.refunds"]
    assert "public.refunds is in the manifest (12 rows) but missing from the restored copy" in (
        drill.error
    )
    assert scratch_databases() == []  # dropped although validation failed


def test_a_restored_table_the_manifest_does_not_expect_fails_the_drill_by_name(approver, database):
    backup = backup_take_now(database)
    manifest = dict(backup.manifest)
    del manifest["stock.items"]
    Backup.objects.filter(pk=backup.pk).update(manifest=manifest)

    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.FAILED
    assert _failed(drill) == ["table stock.items"]
    assert "stock.items was restored (30 rows) but is not in the manifest" in drill.error


def test_a_row_count_that_differs_fails_the_drill(approver, database):
    backup = backup_take_now(database)
    Backup.objects.filter(pk=backup.pk).update(manifest={**backup.manifest, "public.orders": 451})

    drill = _drill(approver, database)

    assert _failed(drill) == ["rows in public.orders"]
    assert "expected 451 rows, restored 450" in drill.error


def test_a_failing_sql_assertion_fails_the_drill_and_the_scratch_database_is_dropped(
    approver, database
):
    database.validation_sql = [
        {"name": "no order over 500", "sql": "SELECT max(total) <= 500 FROM orders"},
        {"name": "broken", "sql": "SELECT nonsense FROM nowhere"},
    ]
    database.save()
    backup_take_now(database)

    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.FAILED
    assert _failed(drill) == ["no order over 500", "broken"]
    assert "does not hold: the query returned False" in drill.error
    assert 'relation "nowhere" does not exist' in drill.error
    assert scratch_databases() == []


def test_an_encrypted_backup_restores_with_its_key(approver, database, monkeypatch):
    monkeypatch.setenv(KEY_ENV, new_key())
    backup = backup_take_now(database)
    assert backup.encrypted
    assert backup.location.endswith(".enc")
    path = storage.local_path(backup.location)
    assert path is not None
    assert b"customer 1" not in path.read_bytes()

    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.PASSED, drill.error


def test_an_encrypted_backup_with_the_wrong_key_fails_clearly(approver, database, monkeypatch):
    monkeypatch.setenv(KEY_ENV, new_key())
    backup_take_now(database)
    wrong = new_key()
    monkeypatch.setenv(KEY_ENV, wrong)

    drill = _drill(approver, database)

    assert drill.status == RestoreDrill.Status.FAILED
    assert drill.error == (
        f"Cannot decrypt backup #{drill.backup_id}: The backup was encrypted with a different "
        f"key than the one in {KEY_ENV}."
    )
    assert wrong not in drill.error
    assert [v["name"] for v in drill.validations] == ["checksum"]  # the file itself is intact
    assert scratch_databases() == []


def test_an_encrypted_backup_without_a_key_fails_clearly(approver, database, monkeypatch):
    monkeypatch.setenv(KEY_ENV, new_key())
    backup_take_now(database)
    monkeypatch.delenv(KEY_ENV)

    drill = _drill(approver, database)

    assert (
        "The environment variable PREFLIGHT_BACKUP_KEY (the backup encryption key) is not set"
        in (drill.error)
    )


def test_running_the_drill_task_twice_is_safe(approver, database):
    backup_take_now(database)
    drill = drill_request(actor=as_actor(approver), database=database)

    first = drill_execute(drill.pk)
    second = drill_execute(drill.pk)

    assert first is not None
    assert first.status == RestoreDrill.Status.PASSED
    assert second is None
    drill.refresh_from_db()
    assert drill.attempts == 1
    assert AuditEvent.objects.filter(action="drill.finished").count() == 1


def test_a_drill_whose_worker_died_is_taken_over_and_leftovers_dropped(approver, database):
    backup_take_now(database)
    drill = drill_request(actor=as_actor(approver), database=database)
    long_ago = timezone.now() - timezone.timedelta(hours=3)
    RestoreDrill.objects.filter(pk=drill.pk).update(
        status=RestoreDrill.Status.RUNNING, started_at=long_ago, attempts=1
    )
    pg.create_database(server_dsn(), f"preflight_drill_{drill.pk}_deadbeef")

    drilled = drill_execute(drill.pk)

    assert drilled is not None
    assert drilled.status == RestoreDrill.Status.PASSED
    assert drilled.attempts == 2
    assert scratch_databases() == []


def test_a_second_request_while_one_is_queued_returns_the_first(approver, database):
    first = drill_request(actor=as_actor(approver), database=database)
    second = drill_request(actor=as_actor(approver), database=database)
    assert first.pk == second.pk
    assert RestoreDrill.objects.count() == 1


def test_a_deployer_may_not_request_a_drill_and_the_refusal_is_audited(deployer, database):
    with pytest.raises(Denied):
        drill_request(actor=as_actor(deployer), database=database)
    assert not RestoreDrill.objects.exists()
    assert AuditEvent.objects.get(action="drill.requested").outcome == "denied"


def test_a_drill_of_another_databases_backup_is_refused(approver, database, project):
    other = Database.objects.create(project=project, name="other", dsn_env=database.dsn_env)
    backup = backup_take_now(other)
    with pytest.raises(ValidationError) as refused:
        drill_request(actor=as_actor(approver), database=database, backup=backup)
    assert refused.value.message_dict == {"backup": ["The backup belongs to another database."]}
    assert not RestoreDrill.objects.exists()


def test_a_passed_drill_turns_the_backup_check_green(approver, database, project):
    kind = get_kind("backup")
    context = CheckContext(
        check_id=1,
        code="BK-001",
        config=kind.validate({"database": "main"}),
        project_slug=project.slug,
        release_id=1,
        version="1.0.0",
        git_sha="",
        environment_id=1,
        environment_slug="production",
        timeout=5,
    )
    assert kind.evaluate(context).status == "fail"

    drill = _drill(approver, database)

    outcome = kind.evaluate(context)
    assert outcome.status == "pass", outcome.detail
    assert f"restored in {drill.restore_seconds:.1f} s" in outcome.detail


def test_a_pg_restore_that_hangs_is_stopped_and_the_scratch_database_dropped(
    approver, database, settings, tmp_path
):
    backup = backup_take_now(database)
    settings.PREFLIGHT_PG_BINDIR = str(hanging_pg_tools(tmp_path / "bin"))
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 1

    drill = _drill(approver, database, backup)

    assert drill.status == RestoreDrill.Status.FAILED
    assert drill.error == "pg_restore did not finish within 1 seconds."
    assert scratch_databases() == []


def test_a_connection_string_the_driver_cannot_parse_reaches_no_log_row_or_audit_event(
    approver, database, monkeypatch, caplog
):
    backup = backup_take_now(database)
    # libpq quotes the token it cannot decode: here, the password.
    monkeypatch.setenv(DSN_ENV, "postgres://shop:s%zzsecret@127.0.0.1/shop")

    with caplog.at_level("DEBUG"):
        drill = _drill(approver, database, backup)

    assert drill.status == RestoreDrill.Status.FAILED
    assert drill.error == "The drill stopped: ProgrammingError (the connection string is malformed)"
    logged = "\n".join(r.getMessage() + (caplog.text or "") for r in caplog.records)
    assert "zzsecret" not in logged
    assert not any("zzsecret" in str(e.after) + e.message for e in AuditEvent.objects.all())
