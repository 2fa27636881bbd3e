"""The postgres kind against real PostgreSQL servers: one without WAL archiving, one archiving
into a directory, and custom SQL assertions. The DSN comes from the environment and is never
shown, stored or logged."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from checks.kinds import ConfigError, get_kind
from checks.kinds.postgres import evaluate
from checks.models import CheckResult
from checks.services.runs import run_execute, run_start
from scripts.throwaway import PostgresServer, free_port

from ..conftest import as_actor
from ..factories import CheckFactory
from .conftest import context

PASSWORD = "Pw-that-must-never-show-9271"


def dsn_of(server: PostgresServer) -> str:
    return f"postgres://postgres:{PASSWORD}@127.0.0.1:{server.port}/postgres"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, PostgresServer]]:
    """Two real servers, started and stopped side by side to keep the suite quick: one with
    archive_mode off, one archiving every segment into a directory."""
    off = PostgresServer(settings={"archive_mode": "off"})
    on = PostgresServer(settings={"archive_mode": "on", "wal_level": "replica"})
    archive = on.dir / "archive"
    archive.mkdir()
    archive.chmod(0o777)  # the server may run as the postgres user
    on.settings["archive_command"] = f"'cp %p {archive}/%f'"
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(PostgresServer.start, (off, on)))
    try:
        with psycopg.connect(on.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE filler AS SELECT generate_series(1, 1000) AS n")
            conn.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 60  # the archiver is slow on a busy machine
            while True:
                row = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
                if row and row[0] > 0:
                    break
                if time.monotonic() > deadline:
                    pytest.fail("the archiving server archived nothing")
                time.sleep(0.05)
        yield {"off": off, "on": on}
    finally:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(PostgresServer.stop, (off, on)))


@pytest.fixture
def not_archiving(servers):  # type: ignore[no-untyped-def]
    return servers["off"]


@pytest.fixture
def archiving(servers):  # type: ignore[no-untyped-def]
    return servers["on"]


def probe(monkeypatch, server, **config):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHOP_DATABASE_URL", dsn_of(server))
    return evaluate(context("postgres", {"dsn_env": "SHOP_DATABASE_URL", **config}))


def test_archive_mode_off_fails(monkeypatch, not_archiving):
    outcome = probe(monkeypatch, not_archiving)
    assert outcome.status == "fail"
    assert outcome.detail.startswith("WAL archiving is off (archive_mode is off): no WAL")
    assert outcome.data["archive_mode"] == "off"


def test_working_archiving_passes(monkeypatch, archiving):
    outcome = probe(monkeypatch, archiving)
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith("Archiving healthy")
    assert int(outcome.data["archived_count"]) >= 1
    assert outcome.data["failed_count"] == "0"


def test_a_custom_sql_assertion_that_holds_passes(monkeypatch, archiving):
    outcome = probe(monkeypatch, archiving, probe="sql", sql="SELECT count(*) = 1000 FROM filler")
    assert outcome.status == "pass"


def test_a_custom_sql_assertion_that_does_not_hold_fails_with_its_message(monkeypatch, archiving):
    outcome = probe(
        monkeypatch,
        archiving,
        probe="sql",
        sql="SELECT count(*) FROM filler WHERE n > 5000",
        message="No row may exceed 5000.",
    )
    assert outcome.status == "fail"
    assert outcome.detail == "No row may exceed 5000."
    no_row = probe(monkeypatch, archiving, probe="sql", sql="SELECT 1 WHERE false")
    assert no_row.status == "fail"
    assert "no row" in no_row.detail


def test_an_assertion_cannot_write(monkeypatch, archiving):
    outcome = probe(monkeypatch, archiving, probe="sql", sql="DELETE FROM filler RETURNING true")
    assert outcome.status == "error"
    assert "read-only" in outcome.detail
    with psycopg.connect(archiving.url) as conn:
        row = conn.execute("SELECT count(*) FROM filler").fetchone()
        assert row is not None
        assert row[0] == 1000


def test_an_assertion_cannot_hang(monkeypatch, archiving):
    started = time.monotonic()
    outcome = probe(
        monkeypatch, archiving, probe="sql", sql="SELECT pg_sleep(10)", timeout_seconds=1
    )
    assert outcome.status == "error"
    assert "statement timeout" in outcome.detail
    assert time.monotonic() - started < 5


def test_an_unset_variable_is_an_error_naming_it(monkeypatch):
    monkeypatch.delenv("SHOP_DATABASE_URL", raising=False)
    outcome = evaluate(context("postgres", {"dsn_env": "SHOP_DATABASE_URL"}))
    assert outcome.status == "error"
    assert "SHOP_DATABASE_URL" in outcome.detail


def test_an_unreachable_database_is_an_error_without_the_password(monkeypatch):
    dsn = f"postgres://postgres:{PASSWORD}@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setenv("SHOP_DATABASE_URL", dsn)
    outcome = evaluate(context("postgres", {"dsn_env": "SHOP_DATABASE_URL", "timeout_seconds": 2}))
    assert outcome.status == "error"
    assert "SHOP_DATABASE_URL" in outcome.detail
    assert PASSWORD not in repr(outcome)


@pytest.mark.django_db
def test_the_dsn_never_reaches_results_or_logs(
    monkeypatch, caplog, not_archiving, archiving, release, environments, deployer
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OFF_DATABASE_URL", dsn_of(not_archiving))
    monkeypatch.setenv("ON_DATABASE_URL", dsn_of(archiving))
    monkeypatch.setenv("BAD_DATABASE_URL", f"postgres://postgres:{PASSWORD}@127.0.0.1:1/x")
    validate = get_kind("postgres").validate
    for variable, extra in (
        ("OFF_DATABASE_URL", {}),
        ("ON_DATABASE_URL", {}),
        ("ON_DATABASE_URL", {"probe": "sql", "sql": "SELECT 1/0"}),
        ("BAD_DATABASE_URL", {"timeout_seconds": 1}),
    ):
        CheckFactory(
            project=release.project,
            kind="postgres",
            config=validate({"dsn_env": variable, **extra}),
        )
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    run_execute(run.pk)
    results = list(CheckResult.objects.filter(run=run).values("status", "detail", "data"))
    assert sorted(r["status"] for r in results) == ["error", "error", "fail", "pass"]
    assert PASSWORD not in repr(results)
    assert PASSWORD not in caplog.text
    for server in (not_archiving, archiving):
        assert dsn_of(server) not in caplog.text
    assert os.environ["ON_DATABASE_URL"] not in repr(results)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "dsn_env"),
        ({"dsn_env": "postgres://u:p@h/db"}, "dsn_env"),
        ({"dsn_env": "X_URL", "probe": "vacuum"}, "probe"),
        ({"dsn_env": "X_URL", "probe": "sql"}, "sql"),
        ({"dsn_env": "X_URL", "stale_status": "error"}, "stale_status"),
        ({"dsn_env": "X_URL", "dsn": "postgres://u:p@h/db"}, "dsn"),
    ],
)
def test_invalid_configs_are_refused_naming_the_field(config, field):
    with pytest.raises(ConfigError) as refused:
        get_kind("postgres").validate(config)
    assert refused.value.field == field


def test_preflights_own_database_cannot_be_probed():
    with pytest.raises(ConfigError) as refused:
        get_kind("postgres").validate(
            {"dsn_env": "DATABASE_URL", "probe": "sql", "sql": "SELECT 1"}
        )
    assert refused.value.field == "dsn_env"
    from checks.kinds import CheckContext

    ctx = CheckContext(
        check_id=1, code="T-1", config={"dsn_env": "DATABASE_URL", "probe": "sql", "sql": "SELECT true"},
        project_slug="shop", release_id=1, version="1", git_sha="a", environment_id=1,
        environment_slug="production", timeout=5,
    )  # fmt: skip
    outcome = evaluate(ctx)
    assert outcome.status == "error"
    assert "Preflight's own configuration" in outcome.detail
