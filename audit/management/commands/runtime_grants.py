from __future__ import annotations

import re
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import connection

from audit.models import AuditEvent
from core.commands import PreflightCommand

# Role names are printed into SQL: only plain identifiers, so nothing needs escaping.
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class Command(PreflightCommand):
    help = (
        "Print the GRANT/REVOKE statements that let a runtime database role (the one web, "
        "worker and beat connect as) use Preflight while it cannot UPDATE, DELETE or TRUNCATE "
        "audit events. Run them as the owner of the tables (the role that runs migrate), e.g. "
        '`manage.py runtime_grants preflight_app | psql "$OWNER_DATABASE_URL"`.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="the runtime role (it must exist and own nothing)")
        parser.add_argument(
            "--owner",
            help="the role that owns the tables and runs migrations (default: this connection's)",
        )

    def handle(self, *args: Any, role: str, owner: str | None = None, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("runtime roles are a PostgreSQL matter; this database is not one")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database(), current_schema()")
            current_user, database, schema = cursor.fetchone()
        owner = owner or current_user
        for name in (role, owner):
            if not ROLE_NAME.fullmatch(name):
                raise CommandError(f"{name!r} is not a plain role name (letters, digits, _)")
        if role == owner:
            raise CommandError("the runtime role must not be the owner of the tables")
        self.stdout.write("\n".join(statements(role, owner, database, schema)))


def statements(role: str, owner: str, database: str, schema: str) -> list[str]:
    q = connection.ops.quote_name
    audit = q(AuditEvent._meta.db_table)
    rw = "SELECT, INSERT, UPDATE, DELETE"
    return [
        f"-- Run as {owner}, the owner of Preflight's tables. {role} may then read and write",
        "-- every table but the audit log, where it may only read and append.",
        "BEGIN;",
        f"GRANT CONNECT ON DATABASE {q(database)} TO {q(role)};",
        f"GRANT USAGE ON SCHEMA {q(schema)} TO {q(role)};",
        f"GRANT {rw} ON ALL TABLES IN SCHEMA {q(schema)} TO {q(role)};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q(schema)} TO {q(role)};",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {q(schema)}.{audit} "
        f"FROM {q(role)}, PUBLIC;",
        f"GRANT SELECT, INSERT ON {q(schema)}.{audit} TO {q(role)};",
        "-- Tables and sequences that later migrations create get the same rights.",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA {q(schema)} "
        f"GRANT {rw} ON TABLES TO {q(role)};",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA {q(schema)} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {q(role)};",
        "COMMIT;",
    ]
