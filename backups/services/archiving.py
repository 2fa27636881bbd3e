"""WAL archiving samples: each configured database's archiver status, read and judged
(backups/wal.py), kept as history; ``wal_failing`` alerts when archiving fails."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.utils import timezone

from .. import alerts
from ..models import Alert, Database, WalSample
from ..wal import FAILING, UNKNOWN, DsnError, dsn_from_env, judge, read_archiver, safe_error


def wal_sample(database: Database) -> WalSample:
    """Read and record one sample. An unreachable server is ``unknown``: it says nothing about
    archiving, so it neither raises nor clears the alert."""
    sample = WalSample(database=database, taken_at=timezone.now())
    dsn = ""
    try:
        dsn = dsn_from_env(database.dsn_env)
        status = read_archiver(dsn, timeout=10)
    except DsnError as exc:
        sample.state, sample.message = UNKNOWN, str(exc)
    except psycopg.Error as exc:
        sample.state = UNKNOWN
        sample.message = f"Cannot read the archiver status: {safe_error(exc, dsn)}"
    else:
        verdict = judge(status, max_age=settings.PREFLIGHT_WAL_MAX_AGE)
        sample.state, sample.message = verdict.state, verdict.message
        for name in (
            "archive_mode",
            "archive_command",
            "archived_count",
            "failed_count",
            "last_archived_wal",
            "last_archived_at",
            "last_failed_wal",
            "last_failed_at",
        ):
            setattr(sample, name, getattr(status, name))
    sample.save()
    if sample.state != UNKNOWN:
        alerts.judge(
            database,
            Alert.Condition.WAL_FAILING,
            active=sample.state == FAILING,
            message=f"WAL archiving of {database}: {sample.message}",
            data={"state": sample.state, "failed_count": sample.failed_count},
        )
    return sample
