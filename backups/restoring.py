"""Restoring a backup into a scratch database: what a restore drill does, and what a migration
rehearsal (checks) does before it migrates the copy.

Order matters: the checksum is verified before anything else, so a damaged file never reaches
pg_restore; an encrypted backup is decrypted only once its stored bytes proved whole. A scratch
database is named ``<prefix><id>_<random>`` so a later attempt can find and drop what an
earlier one left behind."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from . import crypto, pg, storage
from .models import Backup

# How often a watched pg_restore is asked whether it should stop (the scratch database grew
# past its limit, its deadline passed).
WATCH_SECONDS = 1.0


class RestoreFailed(Exception):
    """The backup could not be restored; the message says why. ``checksum`` is the checksum's
    verdict when that is what failed (for the drill's list of validations)."""

    def __init__(self, message: str, checksum: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.checksum = checksum


@dataclass(frozen=True)
class Checksum:
    """The stored file's sha256 against the recorded one."""

    passed: bool
    detail: str
    expected: str = ""
    actual: str = ""

    def as_validation(self) -> dict[str, Any]:
        values = {"expected": self.expected, "actual": self.actual} if self.actual else {}
        return {"name": "checksum", "passed": self.passed, "detail": self.detail, **values}


def fetch_verified(backup: Backup, tmp: Path) -> tuple[Path, Checksum]:
    """The backup as a local file whose sha256 matches the recorded one. Local files are read
    in place; remote ones are downloaded into ``tmp`` and hashed on the way. Raises
    RestoreFailed (with the checksum's verdict) when the file is missing or differs."""
    if not backup.sha256:
        verdict = Checksum(False, "The backup has no recorded sha256.")
        raise RestoreFailed(
            f"Backup #{backup.pk} has no recorded sha256: it cannot be verified.",
            verdict.as_validation(),
        )
    try:
        path = storage.local_path(backup.location)
        digest = hashlib.sha256()
        if path is None:
            path = tmp / "stored"
            with path.open("wb") as handle:
                for block in storage.chunks(backup.location):
                    digest.update(block)
                    handle.write(block)
        else:
            for block in storage.chunks(backup.location):
                digest.update(block)
    except storage.StorageError as exc:
        raise RestoreFailed(str(exc), Checksum(False, str(exc)).as_validation()) from None
    actual = digest.hexdigest()
    if actual != backup.sha256:
        detail = f"Checksum mismatch: the stored file's sha256 is {actual}, {backup.sha256} was recorded."
        verdict = Checksum(False, detail, expected=backup.sha256, actual=actual)
        raise RestoreFailed(
            f"{detail} The backup is damaged or was altered; nothing was restored.",
            verdict.as_validation(),
        )
    return path, Checksum(True, "sha256 matches the recorded one.", expected=actual, actual=actual)


def decrypted(backup: Backup, stored: Path, tmp: Path) -> Path:
    """The plain dump: ``stored`` itself, or its decryption into ``tmp``."""
    if not backup.encrypted:
        return stored
    plain = tmp / "decrypted"
    try:
        key = crypto.load_key()
        with stored.open("rb") as source, plain.open("wb") as target:
            crypto.decrypt_stream(source, target, key)
    except (crypto.BackupKeyError, crypto.DecryptionFailed) as exc:
        raise RestoreFailed(f"Cannot decrypt backup #{backup.pk}: {exc}") from None
    if stored.parent == tmp:
        stored.unlink()  # a downloaded copy; the decrypted one is all that is needed now
    return plain


@contextmanager
def work_dir(prefix: str) -> Iterator[Path]:
    """A private directory for a restore's files (PREFLIGHT_BACKUP_WORK_DIR or the system's)."""
    with tempfile.TemporaryDirectory(
        dir=settings.PREFLIGHT_BACKUP_WORK_DIR or None, prefix=prefix
    ) as tmp:
        yield Path(tmp)


def scratch_name(prefix: str, owner_id: int) -> str:
    return f"{prefix}{owner_id}_{secrets.token_hex(4)}"


def drop_leftovers(dsn: str, prefix: str, owner_id: int) -> list[str]:
    """Scratch databases of an earlier attempt of the same owner (a drill, a rehearsal) whose
    worker died mid-way."""
    names = pg.databases_like(dsn, f"{prefix}{owner_id}_")
    for name in names:
        pg.drop_database(dsn, name)
    return names


def restore(
    dsn: str,
    scratch: str,
    dump: Path,
    *,
    timeout: float | None = None,
    watch: Callable[[], str | None] | None = None,
) -> None:
    """pg_restore ``dump`` into the existing database ``scratch`` on the server of ``dsn``.
    ``watch`` is asked every second while it runs; a reason it returns stops the restore with
    that reason (RestoreFailed), as does running past ``timeout`` (default: the tool timeout)."""
    limit = pg.tool_timeout() if timeout is None else timeout
    conninfo, env = pg.client_args(dsn, dbname=scratch)
    command = [
        pg.program("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--no-password",
        f"--jobs={settings.PREFLIGHT_DRILL_RESTORE_JOBS}",
        f"--dbname={conninfo}",
        str(dump),
    ]
    deadline = time.monotonic() + limit
    # stderr to a file: a pipe nobody reads while waiting could fill and stall pg_restore.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - fixed program, arguments not from a shell
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
        )
        stop = ""
        try:
            while True:
                try:
                    code = process.wait(
                        timeout=max(0.01, min(WATCH_SECONDS, deadline - time.monotonic()))
                    )
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() >= deadline:
                    stop = f"pg_restore did not finish within {limit:.0f} seconds."
                elif watch is not None:
                    stop = watch() or ""
                if stop:
                    process.kill()
                    process.wait()
                    raise RestoreFailed(stop)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if code != 0:
            errors.seek(0)
            text = errors.read().decode(errors="replace")
            raise RestoreFailed(f"pg_restore failed: {pg.failure_detail(text, code, env)}")
