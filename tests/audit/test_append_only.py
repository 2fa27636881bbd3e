"""The audit table as production has it: a fresh database migrated by its owner (a role that is
not a superuser) with Preflight's migrations, and the app connected as a runtime role given the
rights `manage.py runtime_grants` prints. Nobody shortens the log: the owner's TRUNCATE, UPDATE
and DELETE are refused by triggers, the runtime role's by its privileges, and only Django's
flush, as the owner, empties the table."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import errors, sql

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ProductionDatabase:
    name: str
    owner: str
    runtime: str
    intruder: str  # holds every privilege on the table, but does not own it
    server: str
    grants: str = ""

    def url(self, role: str) -> str:
        parts = urlsplit(self.server)
        return f"postgres://{role}@{parts.hostname}:{parts.port}/{self.name}"

    def connect(self, role: str) -> psycopg.Connection:
        return psycopg.connect(self.url(role), autocommit=True)

    def manage(self, role: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        }
        env |= {
            "DJANGO_SETTINGS_MODULE": "preflight.settings.production",
            "SECRET_KEY": "prod-" + "0123456789abcdefghij" * 3,
            "PREFLIGHT_AUDIT_ANCHOR_KEY": "anchor-" + "abcdefghij0123456789" * 3,
            "ALLOWED_HOSTS": "preflight.example.com",
            "DATABASE_URL": self.url(role),
            "PREFLIGHT_VAR_DIR": str(tmp_path),
        }
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionDatabase]:
    server = os.environ["DATABASE_URL"]
    tag = secrets.token_hex(4)
    db = ProductionDatabase(
        name=f"preflight_prod_{tag}",
        owner=f"preflight_owner_{tag}",
        runtime=f"preflight_app_{tag}",
        intruder=f"preflight_intruder_{tag}",
        server=server,
    )
    with psycopg.connect(server, autocommit=True) as conn:
        for role in (db.owner, db.runtime, db.intruder):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                sql.Identifier(db.name), sql.Identifier(db.owner)
            )
        )
    try:
        tmp = tmp_path_factory.mktemp("production")
        migrated = db.manage(db.owner, "migrate", "--noinput", tmp_path=tmp)
        assert migrated.returncode == 0, migrated.stderr
        grants = db.manage(db.owner, "runtime_grants", db.runtime, tmp_path=tmp)
        assert grants.returncode == 0, grants.stderr
        db.grants = grants.stdout
        with db.connect(db.owner) as conn:
            conn.execute(grants.stdout)
            conn.execute(
                sql.SQL("GRANT ALL ON audit_auditevent TO {}").format(sql.Identifier(db.intruder))
            )
        yield db
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name))
            )
            for role in (db.runtime, db.intruder, db.owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def with_events(
    production: ProductionDatabase, tmp_path_factory: pytest.TempPathFactory
) -> ProductionDatabase:
    """The app, connected as the runtime role, has written audit events."""
    tmp = tmp_path_factory.mktemp("runtime")
    created = production.manage(production.runtime, "create_project", "shop", tmp_path=tmp)
    assert created.returncode == 0, created.stderr
    return production


def _count(db: ProductionDatabase) -> int:
    with db.connect(db.owner) as conn:
        row = conn.execute("SELECT count(*) FROM audit_auditevent").fetchone()
    assert row is not None
    return int(row[0])


def test_the_runtime_role_appends_and_reads_audit_events(
    with_events: ProductionDatabase, tmp_path: Path
) -> None:
    assert _count(with_events) > 0
    verified = with_events.manage(with_events.runtime, "verify_audit", tmp_path=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact" in verified.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET actor = 'mallory'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_the_runtime_role_may_not_change_or_remove_audit_events(
    with_events: ProductionDatabase, statement: str
) -> None:
    before = _count(with_events)
    with with_events.connect(with_events.runtime) as conn:
        conn.execute("SET preflight.audit_reset = 'on'")  # the flush flag is no key for it
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(statement)
    assert _count(with_events) == before


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ("UPDATE audit_auditevent SET actor = 'mallory'", "UPDATE on audit_auditevent refused"),
        ("DELETE FROM audit_auditevent", "DELETE on audit_auditevent refused"),
        ("TRUNCATE audit_auditevent", "TRUNCATE on audit_auditevent refused"),
        ("TRUNCATE audit_auditevent CASCADE", "TRUNCATE on audit_auditevent refused"),
    ],
)
def test_the_owner_may_not_change_or_remove_audit_events_either(
    with_events: ProductionDatabase, statement: str, refused: str
) -> None:
    before = _count(with_events)
    with (
        with_events.connect(with_events.owner) as conn,
        pytest.raises(errors.InsufficientPrivilege, match=refused),
    ):
        conn.execute(statement)
    assert _count(with_events) == before


def test_a_role_granted_truncate_cannot_use_the_flush_flag(with_events: ProductionDatabase) -> None:
    before = _count(with_events)
    with with_events.connect(with_events.intruder) as conn:
        conn.execute("SET preflight.audit_reset = 'on'")
        with pytest.raises(errors.InsufficientPrivilege, match="TRUNCATE on audit_auditevent"):
            conn.execute("TRUNCATE audit_auditevent")
    assert _count(with_events) == before


def test_the_grants_take_update_delete_and_truncate_of_audit_events_from_the_runtime_role(
    production: ProductionDatabase,
) -> None:
    assert (
        f'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON "public"."audit_auditevent" '
        f'FROM "{production.runtime}", PUBLIC;'
    ) in production.grants
    assert f'ALTER DEFAULT PRIVILEGES FOR ROLE "{production.owner}"' in production.grants


# Last: it empties the module's database.
def test_flush_by_the_owner_is_the_one_way_to_empty_the_table(
    with_events: ProductionDatabase, tmp_path: Path
) -> None:
    assert _count(with_events) > 0
    flushed = with_events.manage(with_events.owner, "flush", "--noinput", tmp_path=tmp_path)
    assert flushed.returncode == 0, flushed.stderr
    assert _count(with_events) == 0
