"""End to end: "Run drill now" as the page does it, run by a real Celery worker on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from psycopg.conninfo import conninfo_to_dict

from backups.models import Backup, RestoreDrill
from backups.services.drills import drill_request
from tests.conftest import as_actor

from .conftest import DSN_ENV, scratch_databases

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(source_dsn, tmp_path):  # type: ignore[no-untyped-def]
    params = conninfo_to_dict(os.environ["DATABASE_URL"])
    params["dbname"] = settings.DATABASES["default"]["NAME"]  # the test database
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "preflight.settings.test",
        "DATABASE_URL": "postgres://{user}@{host}:{port}/{dbname}".format(**params),
        "PREFLIGHT_BACKUP_DIR": str(settings.PREFLIGHT_BACKUP_DIR),
        "PREFLIGHT_VAR_DIR": str(tmp_path / "var"),
        DSN_ENV: source_dsn,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "preflight",
            "worker",
            "--pool=solo",
            "-n",
            f"test-{os.getpid()}@localhost",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    yield process
    process.terminate()
    process.wait(timeout=20)


def test_run_drill_now_takes_a_backup_restores_it_and_passes(approver, database, worker):
    drill = drill_request(actor=as_actor(approver), database=database)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        drill.refresh_from_db()
        if drill.status in (RestoreDrill.Status.PASSED, RestoreDrill.Status.FAILED):
            break
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.2)

    assert drill.status == RestoreDrill.Status.PASSED, drill.error
    assert drill.restore_seconds is not None
    backup = Backup.objects.get(pk=drill.backup_id)
    assert backup.source == Backup.Source.TAKEN
    assert backup.verified
    assert scratch_databases() == []
