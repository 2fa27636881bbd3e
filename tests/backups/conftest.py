from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backups import pg
from backups.models import Database
from releases.models import Project, Webhook

DSN_ENV = "SHOP_MAIN_DATABASE_URL"
KEY_ENV = "PREFLIGHT_BACKUP_KEY"

SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers(id),
    total numeric(10, 2) NOT NULL
);
CREATE SCHEMA stock;
CREATE TABLE stock.items (sku text PRIMARY KEY, quantity int NOT NULL);
INSERT INTO customers (name) SELECT 'customer ' || n FROM generate_series(1, 120) n;
INSERT INTO orders (customer_id, total) SELECT 1 + n % 120, n * 1.5 FROM generate_series(1, 450) n;
INSERT INTO stock.items SELECT 'SKU-' || n, n FROM generate_series(1, 30) n;
"""
EXPECTED_ROWS = {"public.customers": 120, "public.orders": 450, "stock.items": 30}


def server_dsn() -> str:
    return os.environ["DATABASE_URL"]


def scratch_databases() -> list[str]:
    return pg.databases_like(server_dsn(), "preflight_drill_")


@pytest.fixture
def source_dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A small application database on the test run's PostgreSQL server."""
    name = f"shop_src_{secrets.token_hex(4)}"
    pg.create_database(server_dsn(), name)
    dsn = pg.dsn_for(server_dsn(), name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    monkeypatch.setenv(DSN_ENV, dsn)
    yield dsn
    pg.drop_database(server_dsn(), name)


@pytest.fixture(autouse=True)
def backup_settings(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_BACKUP_DIR = tmp_path / "backups"
    settings.PREFLIGHT_BACKUP_WORK_DIR = ""
    settings.PREFLIGHT_BACKUP_S3_BUCKET = ""
    settings.PREFLIGHT_BACKUP_KEY_ENV = KEY_ENV
    monkeypatch.delenv(KEY_ENV, raising=False)
    return settings


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def database(project: Project, source_dsn: str) -> Database:
    return Database.objects.create(
        project=project,
        name="main",
        dsn_env=DSN_ENV,
        validation_sql=[
            {
                "name": "every order has its customer",
                "sql": "SELECT count(*) = 0 FROM orders o"
                " LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL",
            }
        ],
    )


@pytest.fixture
def webhook(project: Project) -> Webhook:
    return Webhook.objects.create(project=project, url="http://127.0.0.1:9/hook")
