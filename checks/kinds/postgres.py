"""Probes a PostgreSQL database: WAL archiving healthy (pg_stat_archiver), or a custom SQL
assertion. The connection string is named by an environment variable and never stored or logged."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import psycopg

from backups import wal

from .base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    need_number,
    need_str,
    only_keys,
    refuse_reserved_env,
    register,
    reserved_env,
    sentence,
)

PROBES = ("wal_archiving", "sql")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(
        config,
        {
            "dsn_env",
            "probe",
            "max_archive_age_minutes",
            "stale_status",
            "sql",
            "message",
            "timeout_seconds",
        },
    )
    dsn_env = need_str(config, "dsn_env")
    if not ENV_NAME.match(dsn_env):
        raise ConfigError(
            "dsn_env",
            "name the environment variable that holds the connection string, e.g. POS_DATABASE_URL",
        )
    refuse_reserved_env("dsn_env", dsn_env)
    probe = config.get("probe", "wal_archiving")
    if probe not in PROBES:
        raise ConfigError("probe", f"must be one of {', '.join(PROBES)}")
    clean: dict[str, Any] = {"dsn_env": dsn_env, "probe": probe}
    clean["timeout_seconds"] = need_number(
        config, "timeout_seconds", default=10, minimum=1, maximum=60
    )
    if probe == "wal_archiving":
        clean["max_archive_age_minutes"] = need_number(
            config, "max_archive_age_minutes", default=60, minimum=1, maximum=7 * 24 * 60
        )
        stale = config.get("stale_status", "warn")
        if stale not in ("warn", "fail"):
            raise ConfigError("stale_status", "must be warn or fail")
        clean["stale_status"] = stale
    else:
        clean["sql"] = need_str(config, "sql")
        clean["message"] = config.get("message", "")
    return clean


def evaluate(ctx: CheckContext) -> Outcome:
    config = ctx.config
    if reserved_env(config["dsn_env"]):  # stored before the rule existed, or written around it
        return Outcome("error", f"{config['dsn_env']} is Preflight's own configuration.")
    try:
        dsn = wal.dsn_from_env(config["dsn_env"])
    except wal.DsnError as exc:
        return Outcome("error", str(exc))
    timeout = min(float(config.get("timeout_seconds", 10)), ctx.timeout)
    try:
        if config.get("probe", "wal_archiving") == "wal_archiving":
            return _wal(dsn, config, timeout)
        return _sql(dsn, config, timeout)
    except wal.DsnError as exc:
        return Outcome("error", f"{config['dsn_env']}: {exc}")
    except psycopg.Error as exc:
        return Outcome(
            "error",
            f"Could not probe the database named by {config['dsn_env']}: {wal.safe_error(exc, dsn)}",
        )


def _wal(dsn: str, config: Mapping[str, Any], timeout: float) -> Outcome:
    status = wal.read_archiver(dsn, timeout=timeout)
    judgement = wal.judge(
        status, max_age=timedelta(minutes=config.get("max_archive_age_minutes", 60))
    )
    outcome = {
        wal.HEALTHY: "pass",
        wal.STALE: config.get("stale_status", "warn"),
        wal.FAILING: "fail",
    }
    data = {k: str(v) if v is not None else None for k, v in status.as_dict().items()}
    return Outcome(outcome[judgement.state], sentence(judgement.message), data=data)


def _sql(dsn: str, config: Mapping[str, Any], timeout: float) -> Outcome:
    with wal.connect(dsn, timeout=timeout) as conn:
        # A read-only transaction with a time limit: an assertion can neither change data nor hang.
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        row = conn.execute(config["sql"]).fetchone()
        conn.rollback()
    if row is None:
        return Outcome("fail", config.get("message") or "The assertion returned no row.")
    if assertion_holds(row[0]):
        return Outcome("pass", f"Assertion held ({row[0]!r}).")
    return Outcome(
        "fail", config.get("message") or f"Assertion failed: the query returned {row[0]!r}."
    )


def assertion_holds(value: Any) -> bool:
    """Whether an assertion's first value holds: true, or a truthy value that is not the text
    of false."""
    return value is True or (
        not isinstance(value, bool) and bool(value) and value not in ("f", "false")
    )


KIND = register(
    Kind(
        name="postgres",
        description="Probes a PostgreSQL database: WAL archiving health or a SQL assertion.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
    )
)
