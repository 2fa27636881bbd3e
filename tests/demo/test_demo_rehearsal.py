"""The demo on PostgreSQL, as `make run` loads it there: a Liquor POS database of its own beside
Preflight's, a real backup of it, and 1.1.0's migration rehearsed on that backup before
production — shown on the release page, and rehearsed again by a real worker when someone runs
the checks. Without a server for the Liquor POS database the rehearsal checks say that a
rehearsal needs PostgreSQL, and the rest of the demo is what it was. A load that fails half way
leaves no demo behind."""

from __future__ import annotations

import base64
import os
import secrets
from io import StringIO

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from audit.actors import Actor
from backups import pg
from backups.models import Backup, WalSample
from backups.services.archiving import wal_sample
from backups.services.drills import drill_request
from checks.gate import evaluate_gate
from checks.models import Check, MigrationRehearsal, ReadinessRun
from checks.services.rehearsals import SCRATCH_PREFIX
from checks.services.runs import run_start
from demo import loader, posdb
from releases.models import Deployment, Environment, Project, Release

from ..checks.test_worker import (  # noqa: F401 - the fixtures that start and drain workers
    _workers_idle_before_teardown,
    wait_for,
    workers,
)

pytestmark = pytest.mark.django_db(transaction=True)

REHEARSAL_CHECKS = ("MG-001-R", "MG-002-R", "DS-007-R", "MG-003-R", "MG-005-R")
MIGRATION = "20260112_sale_tax"


def pos_dsn() -> str:
    """Where `make run` puts the Liquor POS database: beside Preflight's, with a suffix."""
    own = settings.DATABASES["default"]["NAME"]
    return pg.dsn_for(os.environ["DATABASE_URL"], f"{own}_liquor_pos")


@pytest.fixture
def on_postgresql(monkeypatch, settings, tmp_path):  # type: ignore[no-untyped-def]
    """The variables `make run` sets on PostgreSQL: the Liquor POS database's URL and a backup
    key (the worker started by a test inherits them)."""
    settings.PREFLIGHT_BACKUP_DIR = tmp_path / "backups"
    monkeypatch.setenv("LIQUOR_POS_DATABASE_URL", pos_dsn())
    monkeypatch.setenv(
        settings.PREFLIGHT_BACKUP_KEY_ENV, base64.b64encode(secrets.token_bytes(32)).decode()
    )
    monkeypatch.setenv("PREFLIGHT_BACKUP_DIR", str(settings.PREFLIGHT_BACKUP_DIR))
    yield pos_dsn()
    pg.drop_database(
        os.environ["DATABASE_URL"], str(psycopg.conninfo.conninfo_to_dict(pos_dsn())["dbname"])
    )


def rehearsal_results(run: ReadinessRun) -> dict[str, tuple[str, str]]:
    return {
        r.check_item.code: (r.status, r.detail)
        for r in run.results.select_related("check_item").filter(
            check_item__code__in=REHEARSAL_CHECKS
        )
    }


def production_run(project: Project) -> ReadinessRun:
    return ReadinessRun.objects.get(
        release__project=project,
        release__version="1.1.0",
        environment__slug="production",
        kind="readiness",
    )


def test_on_postgresql_1_1_0_is_rehearsed_on_a_backup_of_its_own_database(
    on_postgresql,
    client,
    workers,  # noqa: F811 - the fixture imported above
):
    call_command("load_demo", password="demo-pw", stdout=StringIO())
    project = Project.objects.get(slug="liquor-pos")
    run = production_run(project)

    # The Liquor POS database is a database of its own, with the stores' rows; Preflight's
    # tables are not in it and its tables are not in Preflight's.
    pos_name = psycopg.conninfo.conninfo_to_dict(on_postgresql)["dbname"]
    assert pos_name != connection.settings_dict["NAME"]
    with psycopg.connect(on_postgresql) as conn:
        counts = pg.row_counts(conn)
    assert counts["public.Sale"] == 60_000
    assert counts["public._prisma_migrations"] == 5
    assert not any(table.startswith("public.checks_") for table in counts)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.\"Sale\"')")
        assert cursor.fetchone()[0] is None

    # A real backup of it, taken by Preflight, the newest one, before the production run.
    backup = Backup.objects.filter(database__project=project).order_by("-started_at").first()
    assert backup is not None
    assert (backup.source, backup.status, backup.verified) == ("taken", "succeeded", True)
    assert backup.encrypted
    assert backup.manifest["public.Sale"] == 60_000
    assert backup.started_at < run.created_at

    # The production run's one rehearsal: the migration 1.1.0 adds, timed, rolled back; the
    # data assertion holds; nothing left on the server.
    rehearsal = MigrationRehearsal.objects.get(run=run)
    assert rehearsal.status == "passed", rehearsal.error
    assert rehearsal.backup_id == backup.pk
    assert "public._prisma_migrations" in rehearsal.pending_source
    [migration] = rehearsal.migrations
    assert (migration["name"], migration["status"]) == (MIGRATION, "applied")
    assert migration["seconds"] > 0
    assert migration["rows"] == 60_000
    assert migration["rollback"]["status"] == "rolled_back"
    assert rehearsal.rollback_ok is True
    assert rehearsal.schema_diff == ""
    [assertion] = rehearsal.assertions
    assert assertion["passed"] is True
    assert {"table": "public.Sale", "expected": 60_000, "actual": 60_000} in rehearsal.row_counts
    assert rehearsal.started_at >= run.created_at  # moved back with its run
    assert pg.databases_like(os.environ["DATABASE_URL"], SCRATCH_PREFIX) == []

    results = rehearsal_results(run)
    assert {code: status for code, (status, _) in results.items()} == {
        "MG-001-R": "pass",
        "MG-002-R": "warn",  # ALTER TABLE holds ACCESS EXCLUSIVE on 60,000 sales
        "DS-007-R": "warn",
        "MG-003-R": "pass",
        "MG-005-R": "pass",
    }
    assert "public.Sale (60,000 rows) held ACCESS EXCLUSIVE" in results["MG-002-R"][1]
    assert all(f"Rehearsal #{rehearsal.pk} of pos-main" in d for _, d in results.values())

    # The history is the demo's: 1.1.0 verified in development and staging, production waiting
    # for a second approver, BK-004 judging encrypted backups.
    fixed = Release.objects.get(project=project, version="1.1.0")
    production = Environment.objects.get(project=project, slug="production")
    assert [r.code for r in evaluate_gate(fixed, production).reasons] == ["approvals_missing"]
    assert set(
        Deployment.objects.filter(release=fixed).values_list("environment__slug", "status")
    ) == {("development", "verified"), ("staging", "verified")}
    assert run.results.get(check_item__code="BK-004").status == "pass"

    # The release page shows the rehearsal with its migration's time.
    client.force_login(fixed.created_by)
    page = client.get("/projects/liquor-pos/releases/1.1.0/production/")
    assert page.status_code == 200
    html = page.content.decode()
    panel = html.split('id="rehearsals"', 1)[1].split("</details>", 1)[0]
    assert f'id="rehearsal-{rehearsal.pk}"' in panel
    assert MIGRATION in panel
    assert "ACCESS EXCLUSIVE on public.Sale" in panel

    # Someone runs 1.1.0's production checks again: a real worker rehearses on the same backup.
    workers()
    again, _ = run_start(
        actor=Actor.of_user(fixed.created_by), release=fixed, environment=production
    )

    def done() -> bool:
        again.refresh_from_db()
        return again.status in ("finished", "error")

    wait_for(done, seconds=180)
    assert again.status == "finished", again.error
    second = MigrationRehearsal.objects.get(run=again)
    assert (second.status, second.backup_id) == ("passed", backup.pk)
    assert rehearsal_results(again)["MG-003-R"][0] == "pass"
    assert pg.databases_like(os.environ["DATABASE_URL"], SCRATCH_PREFIX) == []

    # Restore drills and WAL probes of pos-main work on the Liquor POS database too.
    ana = get_user_model().objects.get(username="ana")  # an approver may run drills
    drill = drill_request(actor=Actor.of_user(ana), database=backup.database)

    def drilled() -> bool:
        drill.refresh_from_db()
        return drill.status in ("passed", "failed")

    wait_for(drilled, seconds=180)
    assert drill.status == "passed", drill.error
    assert drill.backup_id == backup.pk
    sample = wal_sample(backup.database)
    assert sample.state != WalSample.State.UNKNOWN, sample.message


def test_without_a_server_for_the_pos_database_the_rehearsal_checks_say_it_needs_postgresql(
    monkeypatch,
):
    # Plain `make run` (SQLite) sets no LIQUOR_POS_DATABASE_URL, nor a Prometheus; nor does this.
    monkeypatch.delenv("LIQUOR_POS_DATABASE_URL", raising=False)
    monkeypatch.delenv(loader.PROMETHEUS_ENV, raising=False)
    call_command("load_demo", password="demo-pw", stdout=StringIO())
    project = Project.objects.get(slug="liquor-pos")
    run = production_run(project)
    results = rehearsal_results(run)
    assert set(results) == set(REHEARSAL_CHECKS)
    for status, detail in results.values():
        assert status == "error"
        assert detail.startswith("A migration rehearsal needs PostgreSQL:")
        assert "LIQUOR_POS_DATABASE_URL" in detail
    assert not MigrationRehearsal.objects.exists()
    assert not Backup.objects.filter(source="taken").exists()
    # No post-deploy objective on metrics to roll production back for want of a Prometheus;
    # OBS-01 says there is none, before production.
    assert not Check.objects.filter(code=loader.METRICS_OBJECTIVE, is_active=True).exists()
    obs = run.results.get(check_item__code="OBS-01")
    assert (obs.status, obs.detail) == (
        "error",
        "The environment variable LIQUOR_POS_PROMETHEUS_URL, which names the Prometheus server, "
        "is not set.",
    )
    # The rest of the demo as before: production waits for a second approver only.
    fixed = Release.objects.get(project=project, version="1.1.0")
    production = Environment.objects.get(project=project, slug="production")
    assert [r.code for r in evaluate_gate(fixed, production).reasons] == ["approvals_missing"]


def test_the_pos_database_is_never_preflights_own(monkeypatch):
    own = pg.dsn_for(os.environ["DATABASE_URL"], connection.settings_dict["NAME"])
    monkeypatch.setenv("LIQUOR_POS_DATABASE_URL", own)
    with pytest.raises(posdb.PosDatabaseError, match="names Preflight's own database"):
        posdb.configured_dsn()


def test_a_load_that_fails_half_way_leaves_no_demo(monkeypatch):
    monkeypatch.delenv("LIQUOR_POS_DATABASE_URL", raising=False)

    def broken(demo, run):  # type: ignore[no-untyped-def]
        raise RuntimeError("the production run could not be executed")

    # After the first commit: the project is removed again.
    monkeypatch.setattr(loader, "to_production", broken)
    with pytest.raises(RuntimeError):
        call_command("load_demo", password="demo-pw", stdout=StringIO())
    assert not Project.objects.filter(slug="liquor-pos").exists()

    # A load stopped harder (the process killed, nothing removed): the next load finds the
    # half demo, removes it and loads the whole.
    monkeypatch.setattr(loader, "remove", lambda project: None)
    with pytest.raises(RuntimeError):
        call_command("load_demo", password="demo-pw", stdout=StringIO())
    assert Project.objects.filter(slug="liquor-pos").exists()
    monkeypatch.undo()
    monkeypatch.delenv("LIQUOR_POS_DATABASE_URL", raising=False)
    out = StringIO()
    call_command("load_demo", password="demo-pw", stdout=out)
    assert "Loaded the demo project" in out.getvalue()
    project = Project.objects.get(slug="liquor-pos")
    assert production_run(project).status == "finished"
