"""End to end: an admin changes a database's backup schedule on its page, and the real ``celery
beat`` with the database scheduler follows it — a real worker takes the backup it sends — with
no schedule file anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from psycopg.conninfo import conninfo_to_dict

from audit.models import AuditEvent
from backups.models import Backup, Database
from preflight.beat.models import EntryState

from .conftest import DSN_ENV

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BEAT_NODE = f"celerybeat@test-{os.getpid()}"


@pytest.fixture
def celery_env(source_dsn, tmp_path):  # type: ignore[no-untyped-def]
    params = conninfo_to_dict(os.environ["DATABASE_URL"])
    params["dbname"] = settings.DATABASES["default"]["NAME"]  # the test database
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "preflight.settings.test",
        "DATABASE_URL": "postgres://{user}@{host}:{port}/{dbname}".format(**params),
        "PREFLIGHT_BACKUP_DIR": str(settings.PREFLIGHT_BACKUP_DIR),
        "PREFLIGHT_VAR_DIR": str(tmp_path / "var"),
        "PREFLIGHT_BEAT_REFRESH_SECONDS": "1",
        DSN_ENV: source_dsn,
    }


def _celery(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "preflight", *args], cwd=cwd, env=env
    )


@pytest.fixture
def worker(celery_env):  # type: ignore[no-untyped-def]
    process = _celery(
        [
            "worker",
            "--pool=solo",
            "-n",
            f"test-{os.getpid()}@localhost",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
        ],
        celery_env,
        ROOT,
    )
    yield process
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def beat_dir(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """Where beat runs: Celery's file scheduler would write its schedule here."""
    folder = tmp_path / "beat"
    folder.mkdir()
    return folder


@pytest.fixture
def beat(celery_env, beat_dir):  # type: ignore[no-untyped-def]
    # The Procfile's command, answering pings as in docker-compose.yml's health check.
    process = _celery(
        [
            "beat",
            "--scheduler=preflight.beat.scheduler:DatabaseScheduler",
            "--max-interval=1",
            "--enable-remote-control",
            "-n",
            BEAT_NODE,
            "--loglevel=INFO",
        ],
        celery_env,
        beat_dir,
    )
    yield process
    process.terminate()
    process.wait(timeout=20)


def _wait_for(condition, *processes: subprocess.Popen[bytes], seconds: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for process in processes:
            assert process.poll() is None, f"{process.args} exited"
        time.sleep(0.2)
    pytest.fail("timed out")


def test_beat_follows_a_backup_schedule_an_admin_changed(
    admin, database, worker, beat, beat_dir, celery_env
):
    Database.objects.filter(pk=database.pk).update(drill_schedule="", wal_schedule="")
    entry = f"database-{database.pk}-backup"
    # Beat has read the schedule as it ships: a backup at 02:00, nothing now.
    _wait_for(lambda: EntryState.objects.filter(name=entry).exists(), beat)
    assert not Backup.objects.exists()

    admin.set_password("pw")
    admin.save(update_fields=["password"])  # the factory's hash is not stored: a session needs it
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/projects/{database.project.slug}/backups/main/schedule",
        {"backup_schedule": "every 5 seconds", "drill_schedule": "", "wal_schedule": ""},
    )
    assert response.status_code == 302

    backup = _wait_for(
        lambda: Backup.objects.filter(status=Backup.Status.SUCCEEDED).first(), beat, worker
    )
    assert backup.database_id == database.pk
    assert backup.source == Backup.Source.TAKEN
    assert backup.verified
    requested = AuditEvent.objects.filter(action="backup.requested", object_id=str(backup.pk))
    assert requested.get().actor == "system:backup-schedule"
    # Beat remembered the run in the database, and wrote no schedule file of its own.
    assert EntryState.objects.get(name=entry).total_run_count >= 1
    assert list(beat_dir.iterdir()) == []

    # docker-compose.yml's health check of beat.
    ping = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "preflight",
            "inspect",
            "ping",
            "-d",
            BEAT_NODE,
            "--timeout",
            "5",
        ],
        cwd=ROOT,
        env=celery_env,
        capture_output=True,
        timeout=60,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
