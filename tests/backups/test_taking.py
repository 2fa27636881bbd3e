from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from backups import storage
from backups.models import Alert, Backup
from backups.services.drills import drill_execute, drill_request
from backups.services.reports import backup_report
from backups.services.retention import retention_enforce
from backups.services.taking import backup_request, backup_take, backup_take_now
from core.errors import Denied
from releases.models import WebhookDelivery
from tests.backups.helpers import hanging_pg_tools, local_s3, task_callbacks
from tests.conftest import as_actor

from .conftest import DSN_ENV, EXPECTED_ROWS

pytestmark = pytest.mark.django_db


def test_a_backup_is_dumped_stored_and_verified_with_its_manifest(database, settings):
    backup = backup_take_now(database)

    assert backup.status == Backup.Status.SUCCEEDED, backup.error
    assert backup.verified
    assert backup.manifest == EXPECTED_ROWS
    path = storage.local_path(backup.location)
    assert path is not None
    assert path.parent == settings.PREFLIGHT_BACKUP_DIR.resolve() / "shop" / "main"
    content = path.read_bytes()
    assert content.startswith(b"PGDMP")  # pg_dump's custom format
    assert backup.sha256 == hashlib.sha256(content).hexdigest()
    assert backup.size_bytes == len(content)
    assert not backup.encrypted
    assert backup.finished_at is not None
    assert backup.finished_at >= backup.started_at
    event = AuditEvent.objects.get(action="backup.taken")
    assert event.outcome == "success"
    assert event.after["tables"] == 3
    assert not list((settings.PREFLIGHT_BACKUP_DIR / ".incoming").iterdir())


def test_a_requested_backup_is_queued_after_commit_and_taken_once(
    approver, database, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        backup = backup_request(actor=as_actor(approver), database=database)
    assert len(task_callbacks(callbacks)) == 1
    assert backup.status == Backup.Status.RUNNING

    backup_take(backup.pk)
    again = backup_take(backup.pk)

    assert again is not None
    assert again.status == Backup.Status.SUCCEEDED
    assert AuditEvent.objects.filter(action="backup.taken").count() == 1
    assert AuditEvent.objects.get(action="backup.requested").actor == "ana"


def test_a_deployer_may_not_take_a_backup(deployer, database):
    with pytest.raises(Denied):
        backup_request(actor=as_actor(deployer), database=database)
    assert not Backup.objects.exists()
    assert AuditEvent.objects.get(action="backup.requested").outcome == "denied"


def test_a_failed_backup_names_the_problem_and_alerts_once_until_one_succeeds(
    database, webhook, monkeypatch
):
    dsn = os.environ[DSN_ENV]
    monkeypatch.delenv(DSN_ENV)

    first = backup_take_now(database)
    second = backup_take_now(database)

    assert first.status == Backup.Status.FAILED
    assert first.error == (
        f"The environment variable {DSN_ENV} (the database's connection string) is not set."
    )
    assert second.status == Backup.Status.FAILED
    deliveries = WebhookDelivery.objects.filter(event="backup.failed")
    assert deliveries.count() == 1
    assert deliveries.get().payload["data"]["condition"] == "backup_failed"
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1
    assert AuditEvent.objects.filter(action="backup.taken", outcome="failure").count() == 2

    monkeypatch.setenv(DSN_ENV, dsn)
    backup_take_now(database)

    assert not Alert.objects.get(condition=Alert.Condition.BACKUP_FAILED).active
    assert AuditEvent.objects.filter(action="alert.cleared").count() == 1
    assert deliveries.count() == 1


def test_a_backup_far_smaller_than_the_previous_one_raises_the_size_alarm(database, webhook):
    earlier = timezone.now() - timedelta(days=1)
    Backup.objects.create(
        database=database,
        source=Backup.Source.TAKEN,
        started_at=earlier,
        finished_at=earlier,
        size_bytes=50_000_000,
    )

    backup = backup_take_now(database)

    assert backup.status == Backup.Status.SUCCEEDED
    delivery = WebhookDelivery.objects.get(event="backup.failed")
    assert delivery.payload["data"]["condition"] == "backup_size"
    assert (
        "of the previous one (50,000,000 bytes); the alarm is set below 50%"
        in (delivery.payload["data"]["summary"])
    )


def test_a_backup_over_the_size_limit_raises_the_size_alarm(database):
    database.size_limit_bytes = 1000
    database.save()

    backup_take_now(database)

    alert = Alert.objects.get(condition=Alert.Condition.BACKUP_SIZE)
    assert alert.active
    assert "over the limit of 1,000 bytes" in alert.message


def test_a_reported_backup_far_smaller_than_the_previous_report_raises_the_size_alarm(
    project, database
):
    from audit.actors import Actor

    reporter = Actor.of_system("nightly")
    now = timezone.now()
    for days, size in ((2, 1_000_000), (1, 100_000)):
        backup_report(
            actor=reporter,
            project=project,
            database="main",
            started_at=now - timedelta(days=days),
            size_bytes=size,
        )
    assert Alert.objects.get(condition=Alert.Condition.BACKUP_SIZE).active


@pytest.fixture
def s3(settings, monkeypatch):  # type: ignore[no-untyped-def]
    with local_s3(settings, monkeypatch) as client:
        yield client


def _keys(client) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["Key"] for item in client.list_objects_v2(Bucket="backups").get("Contents", [])]


def test_backups_go_to_an_s3_bucket_restore_from_it_and_expire_from_it(
    approver, database, s3, settings
):
    backup = backup_take_now(database)

    assert backup.status == Backup.Status.SUCCEEDED, backup.error
    assert backup.verified
    key = f"preflight/shop/main/{backup.location.rsplit('/', 1)[1]}"
    assert backup.location == f"s3://backups/{key}"
    assert _keys(s3) == [key]
    stored = s3.get_object(Bucket="backups", Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == backup.sha256
    assert not settings.PREFLIGHT_BACKUP_DIR.exists()  # nothing was kept locally

    drill = drill_request(actor=as_actor(approver), database=database)
    drill_execute(drill.pk)
    drill.refresh_from_db()
    assert drill.status == "passed", drill.error

    newer = backup_take_now(database)
    Backup.objects.filter(pk=backup.pk).update(keep_until=timezone.now() - timedelta(seconds=1))
    deleted = retention_enforce()

    assert [b.pk for b in deleted] == [backup.pk]
    assert _keys(s3) == [newer.location.removeprefix("s3://backups/")]


def test_an_unreachable_bucket_fails_the_backup_clearly(database, s3, settings):
    settings.PREFLIGHT_BACKUP_S3_BUCKET = "no-such-bucket"

    backup = backup_take_now(database)

    assert backup.status == Backup.Status.FAILED
    assert backup.error.startswith("Cannot upload to s3://no-such-bucket/preflight/shop/main/")
    assert "NoSuchBucket" in backup.error


def test_the_manifest_counts_the_snapshot_the_dump_holds_while_writes_go_on(
    approver, database, source_dsn
):
    """Orders keep arriving during the backup. The dump and the row counts both read the one
    exported snapshot, so a drill of it matches every count; counting in a snapshot of its own
    would miss or add the orders that arrived in between."""
    import threading

    import psycopg

    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO orders (customer_id, total) VALUES (1, 9.99)")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.2)
        backup = backup_take_now(database)
        time.sleep(0.2)
    finally:
        stop.set()
        writer.join()
    with psycopg.connect(source_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    assert EXPECTED_ROWS["public.orders"] < backup.manifest["public.orders"] < row[0]

    drill = drill_request(actor=as_actor(approver), database=database, backup=backup)
    drill_execute(drill.pk)
    drill.refresh_from_db()
    assert drill.status == "passed", drill.error


def test_a_pg_dump_that_hangs_is_stopped_and_fails_the_backup(database, settings, tmp_path):
    settings.PREFLIGHT_PG_BINDIR = str(hanging_pg_tools(tmp_path / "bin"))
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 1

    started = time.monotonic()
    backup = backup_take_now(database)

    assert time.monotonic() - started < 30
    assert backup.status == Backup.Status.FAILED
    assert backup.error == "pg_dump did not finish within 1 seconds."
