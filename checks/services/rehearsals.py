"""One migration rehearsal per (run, database), shared by every check of the run that names an
aspect of it.

The first check to ask rehearses; the others wait for it and read its row. Who rehearses is
decided by a lock: a thread lock within the worker process, then a session advisory lock on the
rehearsal's key, held while it runs. A worker that dies drops its session and with it the lock,
so a check that then gets the lock and finds the row still ``running`` rehearses again (dropping
what the dead one left on the database server). Under the lock the row is re-read first: a
rehearsal that finished meanwhile is used, never repeated.

These run in the run's worker threads: each call closes the thread's database connection when
it opened it (a thread of the pool has none of its own to begin with)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from backups import pg, restoring, storage
from backups.models import Backup, Database
from backups.wal import DsnError, describe_failure, dsn_from_env
from core import locking

from ..kinds.base import CheckContext, Outcome
from ..kinds.migration_rehearsal import shared_settings
from ..kinds.repository import ReleaseTree, TreeUnavailable, plain_tree, release_tree
from ..kinds.repository.source import SourceError
from ..models import CheckResult, MigrationRehearsal
from ..rehearsal import engine, layouts

log = logging.getLogger(__name__)

REHEARSER = Actor.of_system("migration-rehearsal")
SCRATCH_PREFIX = "preflight_rehearsal_"
WAIT_POLL_SECONDS = 0.5
NEW_STATUSES = ("added", "renamed", "copied")

# The thread locks of rehearsals still likely to be asked for; older ones are forgotten (the
# advisory lock alone keeps a forgotten one's late askers apart).
THREAD_LOCKS_KEPT = 256
_thread_locks: OrderedDict[tuple[int, int], threading.Lock] = OrderedDict()
_thread_locks_guard = threading.Lock()


def rehearsal_obtain(ctx: CheckContext) -> MigrationRehearsal | Outcome:
    """The run's rehearsal of the check's database, rehearsed now if no check of the run has
    yet; or the outcome that says why there is none (no such database, no verified backup…)."""
    with _own_connection():
        return _obtain(ctx)


@contextmanager
def _own_connection() -> Iterator[None]:
    opened_here = connection.connection is None
    try:
        yield
    finally:
        if opened_here and not connection.in_atomic_block:
            connection.close()


def _obtain(ctx: CheckContext) -> MigrationRehearsal | Outcome:
    name = str(ctx.config["database"])
    database = (
        Database.objects.filter(project__slug=ctx.project_slug, name=name)
        .select_related("project")
        .first()
    )
    if database is None:
        return Outcome("pending", f"No database {name} is tracked for backups yet.")
    unavailable = _no_server(database)
    if unavailable:
        return Outcome("error", unavailable)
    if ctx.run_id is None:
        return Outcome("error", "A migration rehearsal is part of a readiness run.")
    done = _finished(ctx.run_id, database)
    if done is not None:
        return done
    deadline = time.monotonic() + ctx.timeout
    with _locked(ctx.run_id, database.pk, deadline) as held:
        if not held:
            return Outcome(
                "error", "Another check of this run is still rehearsing; gave up waiting."
            )
        done = _finished(ctx.run_id, database)
        if done is not None:
            return done
        return _rehearse(ctx, database)


def _no_server(database: Database) -> str:
    """Why no rehearsal of ``database`` can run here, before any is recorded: it restores into a
    scratch database on the PostgreSQL server the database's connection string names, and
    without one (Preflight on SQLite, as plain `make run` is) there is none to restore into."""
    if not database.dsn_env:
        return ""  # refused with the rehearsal recorded, as before (_prepare_and_run)
    try:
        dsn_from_env(database.dsn_env)
    except DsnError as exc:
        return (
            f"A migration rehearsal needs PostgreSQL: it restores {database.name}'s newest "
            f"backup into a scratch database on {database.name}'s PostgreSQL server. {exc} "
            f"Set {database.dsn_env} to a postgres://… connection string (a role with CREATEDB) "
            "for the worker and restart it; `make run` with DATABASE_URL on PostgreSQL does "
            "(docs/backups.md). Nothing was rehearsed."
        )
    return ""


def _finished(run_id: int, database: Database) -> MigrationRehearsal | None:
    return (
        MigrationRehearsal.objects.filter(run_id=run_id, database=database)
        .exclude(status=MigrationRehearsal.Status.RUNNING)
        .select_related("backup", "database")
        .first()
    )


@contextmanager
def _locked(run_id: int, database_id: int, deadline: float) -> Iterator[bool]:
    """Hold the rehearsal's locks (thread, then advisory), waiting until ``deadline``; yields
    False when the wait ran out."""
    with _thread_locks_guard:
        local = _thread_locks.setdefault((run_id, database_id), threading.Lock())
        _thread_locks.move_to_end((run_id, database_id))
        while len(_thread_locks) > THREAD_LOCKS_KEPT:
            _thread_locks.popitem(last=False)
    if not local.acquire(timeout=max(0.0, deadline - time.monotonic())):
        yield False
        return
    try:
        key = zlib.crc32(f"{run_id}:{database_id}".encode()) & 0x7FFFFFFF
        while not locking.rehearsal_try(key):
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(WAIT_POLL_SECONDS)
        try:
            yield True
        finally:
            locking.rehearsal_release(key)
    finally:
        local.release()


def _run_configs(ctx: CheckContext, database: Database) -> list[Mapping[str, Any]]:
    """The validated configs of the run's rehearsal checks of ``database``, in catalog order."""
    configs = [
        config
        for config in CheckResult.objects.filter(
            run_id=ctx.run_id, check_item__kind="migration_rehearsal"
        )
        .order_by("check_item__position", "check_item__code")
        .values_list("check_item__config", flat=True)
        if isinstance(config, Mapping) and config.get("database") == database.name
    ]
    return configs or [ctx.config]


def _rehearse(ctx: CheckContext, database: Database) -> MigrationRehearsal:
    assert ctx.run_id is not None
    settings = shared_settings(_run_configs(ctx, database))
    now = timezone.now()
    rehearsal, created = MigrationRehearsal.objects.get_or_create(
        run_id=ctx.run_id,
        database=database,
        defaults={"settings": _stored(settings), "started_at": now, "attempts": 1},
    )
    if not created:  # left running by a worker that died: this one takes it up
        rehearsal.attempts += 1
        rehearsal.started_at = now
        rehearsal.settings = _stored(settings)
        rehearsal.save(update_fields=["attempts", "started_at", "settings"])
    attempt = rehearsal.attempts
    deadline = time.monotonic() + float(settings["timeout_minutes"]) * 60
    backup: Backup | None
    try:
        report, backup = _prepare_and_run(ctx, database, rehearsal, settings, deadline)
    except _Refused as exc:
        report, backup = engine.Report(error=str(exc), stage=exc.stage), exc.backup
    except Exception as exc:  # whatever went wrong is the rehearsal's result, not a stuck row
        described = describe_failure(exc, database.dsn_env)
        if not isinstance(exc, OSError | DsnError | storage.StorageError | SourceError):
            log.exception("migration rehearsal %s failed", rehearsal.pk)
        report, backup = engine.Report(error=f"The rehearsal stopped: {described}"), None
    return _finish(rehearsal, attempt, report, backup)


def _stored(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k != "assertions"} | {
        "assertions": [a["name"] for a in settings["assertions"]]
    }


class _Refused(Exception):
    """The rehearsal cannot start; the message says why."""

    def __init__(self, message: str, stage: str = "restore", backup: Backup | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.backup = backup


def _backup(database: Database) -> Backup:
    """The newest verified backup Preflight can read (it restores it)."""
    backup = database.last_verified_backup()
    if backup is not None and not storage.readable(backup.location):
        backup = database.last_verified_backup(taken_only=True)
    if backup is None:
        raise _Refused(
            f"No verified backup of {database.name} that Preflight can read: a rehearsal "
            "restores the newest one (take one with manage.py backup, or report one stored at "
            "file:// or s3://)."
        )
    return backup


def _prepare_and_run(
    ctx: CheckContext,
    database: Database,
    rehearsal: MigrationRehearsal,
    settings: Mapping[str, Any],
    deadline: float,
) -> tuple[engine.Report, Backup]:
    if not settings["layout"]:
        raise _Refused("No check of this database names the migrations' layout.", "migrate")
    if not database.dsn_env:
        raise _Refused(
            f"{database.name} names no environment variable for its connection string "
            "(dsn_env): the rehearsal restores into a scratch database on that server."
        )
    try:
        dsn = dsn_from_env(database.dsn_env)
    except DsnError as exc:
        raise _Refused(str(exc)) from None
    migrations, new_keys, new_source = _release_migrations(ctx, settings)
    backup = _backup(database)
    MigrationRehearsal.objects.filter(pk=rehearsal.pk).update(backup=backup)
    restoring.drop_leftovers(dsn, SCRATCH_PREFIX, rehearsal.pk)
    _sweep_finished(dsn)
    with restoring.work_dir(f"rehearsal-{rehearsal.pk}-") as tmp:
        try:
            stored, _checksum = restoring.fetch_verified(backup, tmp)
            dump = restoring.decrypted(backup, stored, tmp)
        except restoring.RestoreFailed as exc:
            raise _Refused(str(exc), backup=backup) from None
        plan = engine.Plan(
            server_dsn=dsn,
            scratch=restoring.scratch_name(SCRATCH_PREFIX, rehearsal.pk),
            dump=dump,
            layout=settings["layout"],
            migrations=migrations,
            new_keys=new_keys,
            new_source=new_source,
            assertions=settings["assertions"],
            manifest={str(k): int(v) for k, v in (backup.manifest or {}).items()},
            deadline=deadline,
            timeout_seconds=float(settings["timeout_minutes"]) * 60,
            max_scratch_bytes=int(float(settings["max_scratch_mb"]) * 2**20),
        )
        return engine.rehearse(plan), backup


def _sweep_finished(dsn: str) -> list[str]:
    """Drop the server's scratch databases of rehearsals that are over (a worker that died
    mid-way, in a run nobody evaluated again). Names this Preflight does not know are left."""
    dropped = []
    for name in pg.databases_like(dsn, SCRATCH_PREFIX):
        owner = name.removeprefix(SCRATCH_PREFIX).split("_")[0]
        if owner.isdigit() and (
            MigrationRehearsal.objects.filter(pk=int(owner))
            .exclude(status=MigrationRehearsal.Status.RUNNING)
            .exists()
        ):
            pg.drop_database(dsn, name)
            dropped.append(name)
    return dropped


def _release_migrations(
    ctx: CheckContext, settings: Mapping[str, Any]
) -> tuple[list[layouts.Migration], set[str] | None, str]:
    """The release's migrations in the layout; for a layout without a history table, also the
    keys of those added since the release last verified in the environment."""
    layout = settings["layout"]
    try:
        with release_tree(ctx, settings.get("path")) as opened:
            migrations = _read(opened, settings["migrations"], layout)
            if layout in layouts.HISTORY_TABLE:
                return migrations, None, ""
            if ctx.verified is None:
                raise _Refused(
                    f"No release has been verified in {ctx.environment_slug} yet, and the "
                    f"{layout} layout keeps no history table: which migrations the database "
                    "lacks is unknown.",
                    "migrate",
                )
            since = f"the migrations added since {ctx.verified.version} (verified in {ctx.environment_slug})"
            commit = opened.tree.commit
            if commit is not None:
                changes = commit.revision.changes_since(ctx.verified.git_sha)
                added = {c.path for c in changes if c.status in NEW_STATUSES}
                return migrations, {m.key for m in migrations if m.file in added}, since
    except TreeUnavailable as exc:
        raise _Refused(str(exc), "migrate") from None
    except SourceError as exc:
        raise _Refused(
            f"Cannot compare with {ctx.verified.version if ctx.verified else '?'}: {exc}", "migrate"
        ) from None
    except layouts.LayoutError as exc:
        raise _Refused(str(exc), "migrate") from None
    return migrations, _added_since_plain(ctx, settings, migrations), since


def _read(opened: ReleaseTree, directory: str, layout: str) -> list[layouts.Migration]:
    path = (opened.tree.root / directory).resolve()
    if not path.is_relative_to(opened.tree.root.resolve()):
        raise layouts.LayoutError(f"{directory} leads outside the tree.")
    return layouts.read(opened.tree, path, layout, opened.top)


def _added_since_plain(
    ctx: CheckContext, settings: Mapping[str, Any], migrations: list[layouts.Migration]
) -> set[str]:
    """Without git: the verified release's own tree (the same ``path`` with its version and
    commit) holds the migrations it had; the others are new."""
    assert ctx.verified is not None
    path = str(settings.get("path") or "")
    then = dataclasses.replace(ctx, version=ctx.verified.version, git_sha=ctx.verified.git_sha)
    try:
        current, earlier = plain_tree(ctx, path), plain_tree(then, path)
    except TreeUnavailable as exc:
        raise _Refused(
            f"The tree of {ctx.verified.version} (verified in {ctx.environment_slug}) is needed "
            f"to tell which migrations are new: {exc}",
            "migrate",
        ) from None
    if current.top == earlier.top:
        raise _Refused(
            f"The {settings['layout']} layout keeps no history table, and {path} names the same "
            f"tree for every release: name each release's tree (with {{git_sha}} or {{version}}) "
            "or the project's repository, so the migrations added since "
            f"{ctx.verified.version} can be told.",
            "migrate",
        )
    try:
        before = _read(earlier, settings["migrations"], settings["layout"])
    except layouts.LayoutError:
        before = []
    known = {m.key for m in before}
    return {m.key for m in migrations if m.key not in known}


def _finish(
    rehearsal: MigrationRehearsal, attempt: int, report: engine.Report, backup: Backup | None
) -> MigrationRehearsal:
    if report.error:
        status = MigrationRehearsal.Status.ERROR
    elif report.passed:
        status = MigrationRehearsal.Status.PASSED
    else:
        status = MigrationRehearsal.Status.FAILED
    values: dict[str, Any] = {
        "status": status,
        "pending_source": report.pending_source[:300],
        "migrations": report.migrations,
        "assertions": report.assertions,
        "row_counts": report.row_counts,
        "schema_diff": report.schema_diff,
        "rollback_ok": report.rollback_ok,
        "restore_seconds": report.restore_seconds,
        "migrate_seconds": report.migrate_seconds,
        "rollback_seconds": report.rollback_seconds,
        "total_seconds": report.total_seconds,
        "scratch_bytes": report.scratch_bytes,
        "error": report.error,
        "stage": report.stage if report.error else "",
        "finished_at": timezone.now(),
    }
    if backup is not None:  # else the one recorded when it was chosen, if any
        values["backup"] = backup
    with transaction.atomic():
        # Only the attempt that holds the row writes it (a worker that lost its lock must not).
        written = MigrationRehearsal.objects.filter(
            pk=rehearsal.pk, attempts=attempt, status=MigrationRehearsal.Status.RUNNING
        ).update(**values)
        fresh = MigrationRehearsal.objects.select_related("backup", "database").get(pk=rehearsal.pk)
        if written:
            audit.record(
                actor=REHEARSER,
                action="rehearsal.finished",
                obj=fresh,
                project_id=fresh.database.project_id,
                after={
                    "run": fresh.run_id,
                    "database": fresh.database.name,
                    "status": fresh.status,
                    "backup": fresh.backup_id,
                    "migrations": len(fresh.migrations),
                    "failed": [m["name"] for m in fresh.migrations if m["status"] == "failed"],
                    "rollback_ok": fresh.rollback_ok,
                    "total_seconds": fresh.total_seconds,
                },
                outcome="success" if status == MigrationRehearsal.Status.PASSED else "failure",
                message=fresh.error,
            )
    return fresh
