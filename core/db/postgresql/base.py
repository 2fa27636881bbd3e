"""Django's PostgreSQL backend, with the one owner-only way to empty the audit table.

The audit table refuses TRUNCATE (audit/migrations/0004_truncate_refused.py) unless the session
has set ``preflight.audit_reset`` to ``on`` *and* its role is the table's owner. Django empties
the database with one TRUNCATE of every table — ``manage.py flush`` and the test suite's resets
between transactional tests — so ``sql_flush`` sets that flag, for its own transaction only,
before the TRUNCATE. A role that does not own the table gains nothing by setting the flag.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base, operations

AUDIT_TABLE = "audit_auditevent"
RESET_FLAG = "preflight.audit_reset"


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Any,
        tables: Any,
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if statements and AUDIT_TABLE in tables:
            # Django runs the flush statements in one transaction: SET LOCAL ends with it.
            return [f"SET LOCAL {RESET_FLAG} = 'on';", *statements]
        return statements


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
