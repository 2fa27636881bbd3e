"""The database's last verified backup and last restore drill are recent enough and passed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.timesince import timesince

from .base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    need_str,
    only_keys,
    register,
    sentence,
)

REQUIREMENTS = ("backup", "drill", "both")


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(config, {"database", "require"})
    need_str(config, "database")
    require = config.get("require", "both")
    if require not in REQUIREMENTS:
        raise ConfigError("require", f"must be one of {', '.join(REQUIREMENTS)}")
    return {"database": config["database"], "require": require}


def evaluate(ctx: CheckContext) -> Outcome:
    from backups.models import Database, RestoreDrill

    name = ctx.config["database"]
    database = Database.objects.filter(project__slug=ctx.project_slug, name=name).first()
    if database is None:
        return Outcome("pending", f"No backups of {name} are tracked yet.")
    # A run judges its moment: a drill recorded after it does not count (the demo's replay of
    # its review, a run taken over by another worker).
    now = ctx.as_of or timezone.now()
    require = ctx.config.get("require", "both")
    problems, notes = [], []

    if require in ("backup", "both"):
        backup = database.last_verified_backup()
        if backup is None:
            problems.append(f"no verified backup of {name} is recorded")
        elif database.backup_is_stale(backup, now):
            problems.append(f"the last verified backup is {timesince(backup.taken_at, now)} old")
        else:
            notes.append(f"last verified backup {timesince(backup.taken_at, now)} ago")

    if require in ("drill", "both"):
        drill = (
            RestoreDrill.objects.filter(database=database, finished_at__lte=now)
            .order_by("-finished_at")
            .first()
        )
        finished = drill.finished_at if drill is not None else None
        if drill is None or finished is None:
            problems.append(f"no restore drill of {name} has run")
        elif drill.status != RestoreDrill.Status.PASSED:
            problems.append(
                f"the last restore drill {drill.status}: {drill.error or 'see the drill'}"
            )
        elif database.drill_is_overdue(finished, now):
            problems.append(f"the last passed restore drill is {timesince(finished, now)} old")
        else:
            rto = (
                f" (restored in {drill.restore_seconds:.1f} s)"
                if drill.restore_seconds is not None
                else ""
            )
            notes.append(f"restore drill passed {timesince(finished, now)} ago{rto}")

    if problems:
        return Outcome("fail", sentence("; ".join(problems)) + ".")
    return Outcome("pass", sentence("; ".join(notes)) + ".")


KIND = register(
    Kind(
        name="backup",
        description="A recent verified backup and a recent passed restore drill.",
        io_bound=False,
        validate=validate,
        evaluate=evaluate,
    )
)
