"""WAL archiving read from real servers: one with archiving off, one archiving to a directory."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from audit.models import AuditEvent
from backups.models import Alert, Database, WalSample
from backups.services.archiving import wal_sample
from releases.models import WebhookDelivery
from scripts.throwaway import PostgresServer

pytestmark = pytest.mark.django_db

WAL_ENV = "SHOP_WAL_DATABASE_URL"


@pytest.fixture
def database(project, monkeypatch) -> Database:  # type: ignore[no-untyped-def]
    return Database.objects.create(project=project, name="main", dsn_env=WAL_ENV)


def test_a_server_with_archive_mode_off_is_failing_and_alerts_once(database, webhook, monkeypatch):
    with PostgresServer() as server:
        monkeypatch.setenv(WAL_ENV, server.url)
        first = wal_sample(database)
        second = wal_sample(database)

    assert first.state == WalSample.State.FAILING
    assert first.archive_mode == "off"
    assert "archive_mode is off" in first.message
    assert second.state == WalSample.State.FAILING
    assert WalSample.objects.count() == 2
    assert WebhookDelivery.objects.filter(event="wal.failing").count() == 1
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1


def test_a_server_archiving_to_a_directory_is_healthy_and_clears_the_alert(
    database, webhook, monkeypatch
):
    Alert.objects.create(database=database, condition=Alert.Condition.WAL_FAILING, active=True)
    server = PostgresServer()
    archive = Path(server.dir) / "archive"
    server.settings.update(
        {
            "archive_mode": "on",
            # The server runs as the postgres user and owns its directory; the archive is in it.
            "archive_command": f"'mkdir -p {archive} && cp %p {archive}/%f'",
        }
    )
    with server:
        monkeypatch.setenv(WAL_ENV, server.url)
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
            conn.execute("SELECT pg_switch_wal()")
            for _ in range(100):
                row = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
                if row and row[0] > 0:
                    break
                time.sleep(0.1)
        sample = wal_sample(database)
        archived = sorted(p.name for p in archive.iterdir())

    assert sample.state == WalSample.State.HEALTHY, sample.message
    assert sample.archive_mode == "on"
    assert sample.archived_count >= 1
    assert sample.last_archived_wal in archived
    assert sample.failed_count == 0
    assert not Alert.objects.get(condition=Alert.Condition.WAL_FAILING).active
    assert AuditEvent.objects.filter(action="alert.cleared").count() == 1
    assert not WebhookDelivery.objects.exists()


def test_an_unreachable_server_is_unknown_and_leaves_the_alert_alone(database, monkeypatch):
    Alert.objects.create(database=database, condition=Alert.Condition.WAL_FAILING, active=True)
    monkeypatch.setenv(WAL_ENV, "postgres://nobody:s3cret@127.0.0.1:1/none")

    sample = wal_sample(database)

    assert sample.state == WalSample.State.UNKNOWN
    assert sample.message.startswith("Cannot read the archiver status:")
    assert "s3cret" not in sample.message
    assert Alert.objects.get(condition=Alert.Condition.WAL_FAILING).active
