"""Watching a migration from a second connection: the locks its backend holds that would block
the application's writes (from pg_locks, polled while it runs), and the scratch database's size.

The migrating connection also asks for a sample after each of its statements, so a lock taken
by a quick statement is seen (inside a transaction it is held to the end) and is attributed to
the statement that took it. Only relations that existed before the migration count: a table
the migration creates blocks nobody."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

# The lock modes that conflict with ROW EXCLUSIVE, the lock INSERT, UPDATE and DELETE take; the
# strongest also blocks reads.
BLOCKING_MODES = {
    "ShareLock": "writes",
    "ShareRowExclusiveLock": "writes",
    "ExclusiveLock": "writes",
    "AccessExclusiveLock": "reads and writes",
}
MODE_NAMES = {
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
STRENGTH = list(BLOCKING_MODES)
POLL_SECONDS = 0.05
SIZE_EVERY_SECONDS = 1.0

# Sizes are read before the migration starts (``begin``): sizing a relation while it runs would
# wait behind the very ACCESS EXCLUSIVE lock being watched.
LOCKS_SQL = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind, l.mode, l.granted
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = %s AND l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.mode = ANY(%s)
  AND c.relkind IN ('r', 'p', 'm', 'i')
"""
RELATIONS_SQL = """
SELECT c.oid::bigint, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'i')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
"""


@dataclass
class HeldLock:
    relation: str
    kind: str  # table | index | materialized view
    mode: str  # PostgreSQL's name, e.g. AccessExclusiveLock
    statement: int | None  # index of the statement that took it, from 0
    line: int | None
    bytes: int  # the relation's size (with its indexes and TOAST) before the migration
    first_seen: float
    last_seen: float
    waited: bool = False  # seen not granted: the migration queued behind someone
    released_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        end = self.released_at if self.released_at is not None else self.last_seen
        return {
            "relation": self.relation,
            "kind": self.kind,
            "mode": MODE_NAMES.get(self.mode, self.mode),
            "blocks": BLOCKING_MODES.get(self.mode, "writes"),
            "statement": None if self.statement is None else self.statement + 1,
            "line": self.line,
            "bytes": self.bytes,
            "held_seconds": round(max(0.0, end - self.first_seen), 3),
            "waited": self.waited,
        }


KINDS = {"r": "table", "p": "table", "m": "materialized view", "i": "index"}


@dataclass
class LockWatch:
    """Polls pg_locks for ``pid`` on its own connection (``dsn``, the scratch database) in a
    thread, and the scratch database's size against ``max_bytes``: past it, the migrating
    backend's statement is cancelled and ``stopped`` says why."""

    dsn: str
    pid: int
    max_bytes: int | None = None
    poll_seconds: float = POLL_SECONDS
    stopped: str = ""
    peak_bytes: int = 0
    _conn: psycopg.Connection[Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _held: dict[tuple[int, str], HeldLock] = field(default_factory=dict)
    _existing: dict[int, int] = field(default_factory=dict)
    _statement: tuple[int, int] | None = None
    _last_size: float = 0.0

    def __enter__(self) -> LockWatch:
        self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        self._thread = threading.Thread(
            target=self._poll, name=f"lockwatch-{self.pid}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._conn is not None:
            self._conn.close()

    def begin(self) -> None:
        """A migration starts: the relations that exist now are the ones whose locks count."""
        with self._lock:
            assert self._conn is not None
            rows = self._conn.execute(RELATIONS_SQL).fetchall()
            self._existing = {int(oid): int(size) for oid, size in rows}
            self._held = {}
            self._statement = None

    def statement(self, index: int, line: int) -> None:
        self._statement = (index, line)

    def sample(self) -> None:
        """Read the backend's locks now (the migrating thread asks after each statement)."""
        with self._lock:
            self._sample()

    def released(self) -> None:
        """The migration's transaction ended: every lock it held is gone now."""
        with self._lock:
            now = time.monotonic()
            for held in self._held.values():
                if held.released_at is None:
                    held.released_at = now

    def locks(self) -> list[dict[str, Any]]:
        """The blocking locks seen during the migration, strongest first, then by relation."""
        with self._lock:
            held = sorted(self._held.values(), key=lambda h: (-STRENGTH.index(h.mode), h.relation))
            return [h.as_dict() for h in held]

    def _poll(self) -> None:
        while not self._done.wait(self.poll_seconds):
            try:
                with self._lock:
                    self._sample()
                    self._check_size()
            except psycopg.Error:
                if self._done.is_set():
                    return
                time.sleep(self.poll_seconds)

    def _sample(self) -> None:
        assert self._conn is not None
        now = time.monotonic()
        current = self._statement
        rows = self._conn.execute(LOCKS_SQL, [self.pid, STRENGTH]).fetchall()
        seen = set()
        for oid, schema, name, relkind, mode, granted in rows:
            if int(oid) not in self._existing:
                continue
            key = (int(oid), str(mode))
            seen.add(key)
            held = self._held.get(key)
            if held is None:
                held = self._held[key] = HeldLock(
                    relation=f"{schema}.{name}",
                    kind=KINDS.get(str(relkind), "relation"),
                    mode=str(mode),
                    statement=current[0] if current else None,
                    line=current[1] if current else None,
                    bytes=self._existing[int(oid)],
                    first_seen=now,
                    last_seen=now,
                )
            held.last_seen = now
            held.released_at = None
            held.waited = held.waited or not granted
        # Outside a transaction, a statement's locks go with it.
        for key, held in self._held.items():
            if key not in seen and held.released_at is None:
                held.released_at = now

    def _check_size(self) -> None:
        now = time.monotonic()
        if now - self._last_size < SIZE_EVERY_SECONDS:
            return
        self._last_size = now
        self._measure()
        if self.max_bytes is not None and self.peak_bytes > self.max_bytes and not self.stopped:
            self.stopped = (
                f"The scratch database grew to {self.peak_bytes / 2**20:.0f} MB, past the "
                f"rehearsal's limit of {self.max_bytes / 2**20:.0f} MB; the migration was stopped."
            )
            assert self._conn is not None
            self._conn.execute("SELECT pg_cancel_backend(%s)", [self.pid])

    def size(self) -> int:
        """The scratch database's size now, in bytes (its peak is kept)."""
        with self._lock:
            return self._measure()

    def _measure(self) -> int:
        assert self._conn is not None
        row = self._conn.execute("SELECT pg_database_size(current_database())").fetchone()
        size = int(row[0]) if row else 0
        self.peak_bytes = max(self.peak_bytes, size)
        return size
