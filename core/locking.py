"""Every lock Preflight takes, and the one order it takes them in.

Two transactions that each hold a lock the other waits for deadlock; PostgreSQL then kills one
of them. They cannot when every transaction takes its locks in the same order, so this module is
the only place that locks (tests/preflight/test_locking.py fails on a ``select_for_update`` or
an advisory lock anywhere else), and the order is ``Rank`` below — DEVELOPERS.md, "Lock order":

1. an Idempotency-Key (advisory, per principal and key) — only ever *tried*, never waited for;
2. rows a change edits on their own: a membership, an API token, a webhook, a backed-up
   database;
3. the environment — what serialises runs, deployments, locks and freezes of one environment;
4. a waiver;
5. a check's result in a run, then an attestation of it (the result first, so the tick read
   under it is the one the result ends up saying);
6. the readiness run (a result written rescores its run: result, then run);
7. the deployment;
8. the gate's last announced state; a backup alert's state;
9. the audit chain (advisory, held to the commit) — always last: ``audit.record`` is a
   transaction's last write but for rows nobody locks (webhook deliveries, outbox messages,
   the idempotency answer).

A transaction may skip ranks, never go back to an earlier one. Rows of one rank are locked in
primary-key order (``rows``), and only the model's own rows: ``FOR ... OF`` the model's table, so
that a ``select_related`` does not lock the environment or release it joins, out of order. Row
locks are ``FOR NO KEY UPDATE``: they serialise the writers
that lock the row, but do not block inserts that merely reference it (a deployment or a run
row's foreign key takes ``FOR KEY SHARE`` on its environment), so an insert never waits on a
lock of a higher rank.

A backup being taken holds a session-level advisory lock (``backup_try``) for the whole dump,
and a migration rehearsal one for its scratch database (``rehearsal_try``), outside any
transaction: they are only tried, never waited for, so they cannot take part in a deadlock.

Work that follows a change in another transaction (the post-deploy verification, an announced
gate, a task) goes through the outbox (core/outbox), after the commit, never inside it."""

from __future__ import annotations

import hashlib
from enum import IntEnum

from django.db import connection, models


class Rank(IntEnum):
    IDEMPOTENCY_KEY = 10
    SETTINGS = 20
    ENVIRONMENT = 30
    WAIVER = 40
    RESULT = 50
    ATTESTATION = 55
    RUN = 60
    DEPLOYMENT = 70
    STATE = 80
    AUDIT_CHAIN = 90


# The rank of each model's rows ("app_label.ModelName").
RANKS: dict[str, Rank] = {
    "releases.Membership": Rank.SETTINGS,
    "releases.ApiToken": Rank.SETTINGS,
    "releases.Webhook": Rank.SETTINGS,
    "backups.Database": Rank.SETTINGS,
    "releases.Environment": Rank.ENVIRONMENT,
    "checks.Waiver": Rank.WAIVER,
    "checks.Attestation": Rank.ATTESTATION,
    "checks.CheckResult": Rank.RESULT,
    "checks.ReadinessRun": Rank.RUN,
    "releases.Deployment": Rank.DEPLOYMENT,
    "checks.GateState": Rank.STATE,
    "backups.Alert": Rank.STATE,
}

# The first of the two advisory-lock keys of each kind, apart from one another.
_IDEMPOTENCY_CLASS = 0x49444B59  # "IDKY"
_BACKUP_CLASS = 0x4241  # "BA", keyed by backup id
_REHEARSAL_CLASS = 0x4D52  # "MR", migration rehearsals, keyed by (run, database)
_AUDIT_CHAIN_KEY = 0x5052_4546_4C49  # "PREFLI"


def rank_of(model: type[models.Model]) -> Rank:
    label = model._meta.label
    if label not in RANKS:
        raise LookupError(f"{label} has no place in the lock order (core/locking.py)")
    return RANKS[label]


def rows[M: models.Model](queryset: models.QuerySet[M] | models.Manager[M]) -> models.QuerySet[M]:
    """``queryset`` locking the rows it reads (FOR NO KEY UPDATE), in primary-key order, until
    the transaction ends. Inside ``transaction.atomic()``, after any lock of a lower rank and
    before any of a higher one."""
    queryset = queryset.all()
    rank_of(queryset.model)
    ordered = queryset if queryset.query.order_by else queryset.order_by("pk")
    # OF self: with select_related, PostgreSQL would otherwise lock the joined rows too (a run's
    # environment, say), at this rank instead of theirs.
    return ordered.select_for_update(no_key=True, of=("self",))


def row[M: models.Model](model: type[M], pk: int) -> M:
    """The row, read and locked (see ``rows``)."""
    return rows(model._default_manager.filter(pk=pk)).get()


def idempotency_key_try(principal: str, key: str) -> bool:
    """Take the key for this transaction; False when another transaction has it. Never waits,
    so it is first in every transaction that takes it. (Keys share 32-bit lock ids: two keys
    with the same id in flight at once would make one retry a second later, nothing worse.)
    SQLite has no such lock: its writers queue on the database's own lock."""
    if connection.vendor != "postgresql":
        return True
    digest = hashlib.sha256(f"{principal}\n{key}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [_IDEMPOTENCY_CLASS, int.from_bytes(digest[:4], "big", signed=True)],
        )
        return bool(cursor.fetchone()[0])


def audit_chain() -> None:
    """Serialise appends to the audit chain until the transaction ends (the head a transaction
    read is still the head when it commits). Last in every transaction. SQLite serialises
    writers by itself."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_CHAIN_KEY])


def backup_try(backup_id: int) -> bool:
    """Take the backup for this session (a worker taking it); False when another has it."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_BACKUP_CLASS, backup_id])
        return bool(cursor.fetchone()[0])


def backup_release(backup_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_BACKUP_CLASS, backup_id])


def rehearsal_try(key: int) -> bool:
    """Take a migration rehearsal for this session; False when another has it (the caller
    polls). Without PostgreSQL the caller's thread lock is all there is."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_REHEARSAL_CLASS, key])
        return bool(cursor.fetchone()[0])


def rehearsal_release(key: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_REHEARSAL_CLASS, key])
