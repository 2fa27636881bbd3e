"""Probes of a database's backups as the backups app records them: encrypted, restored from
off-site storage, kept for a chosen time, watched for their size."""

from __future__ import annotations

from urllib.parse import urlparse

from django.db.models import Count, Max, Q
from django.template.defaultfilters import filesizeformat

from backups import storage
from backups.models import DEFAULT_RETENTION_DAYS, Alert, Backup, RestoreDrill

from ..base import Outcome
from .registry import DATABASE, LISTED, Subject, count, listed, probe, records


@probe("backups_encrypted", scope=DATABASE, window=True)
def backups_encrypted(subject: Subject) -> Outcome:
    """Every backup of the database that succeeded in the window is encrypted."""
    db = subject.db
    recent = Backup.objects.filter(
        database=db,
        status=Backup.Status.SUCCEEDED,
        started_at__gte=subject.since,
        started_at__lte=subject.now,
    )
    totals = recent.aggregate(
        total=Count("id"), plain=Count("id", filter=Q(encrypted=False)), latest=Max("id")
    )
    total, plain = totals["total"], totals["plain"]
    if not total:
        return Outcome(
            "pending",
            f"No backup of {db.name} succeeded {subject.in_window}: nothing shows yet whether "
            "its backups are encrypted.",
            data={"database": db.name, "backups": 0},
        )
    unencrypted = list(
        recent.filter(encrypted=False)
        .order_by("-started_at", "-id")
        .values_list("id", flat=True)[:LISTED]
    )
    data = {"database": db.name, "backups": total, "unencrypted": unencrypted}
    if plain:
        if plain == total == 1:
            which = f"The only backup of {db.name} {subject.in_window} is not encrypted"
        elif plain == total:
            which = f"None of the {total} backups of {db.name} {subject.in_window} is encrypted"
        else:
            which = (
                f"{plain} of {total} backups of {db.name} {subject.in_window} "
                f"{'is' if plain == 1 else 'are'} not encrypted"
            )
        return Outcome(
            "fail",
            f"{which}: {listed(records(unencrypted), plain)}. "
            "Set PREFLIGHT_BACKUP_KEY for the backups Preflight takes (docs/backups.md, "
            "Encryption), and have the job that reports backups encrypt them and say so "
            "(encrypted: true).",
            data=data,
        )
    every = "The only backup" if total == 1 else f"All {total} backups"
    return Outcome(
        "pass",
        f"{every} of {db.name} {subject.in_window} {'is' if total == 1 else 'are'} encrypted "
        f"(the latest: #{totals['latest']}).",
        data=data,
    )


def _offsite(location: str) -> str:
    """Where an off-site location is (``s3://bucket``), or "" for this machine's disk."""
    if not location or storage.local_path(location) is not None:
        return ""
    parsed = urlparse(location)
    return f"{parsed.scheme}://{parsed.netloc}"


@probe("offsite_drill", scope=DATABASE, window=True)
def offsite_drill(subject: Subject) -> Outcome:
    """The latest restore drill of the database that passed, in the window, restored a backup
    from off-site storage (not from this machine's disk)."""
    db = subject.db
    passed = RestoreDrill.objects.filter(
        database=db, status=RestoreDrill.Status.PASSED, finished_at__lte=subject.now
    ).order_by("-finished_at", "-id")
    drill = passed.filter(finished_at__gte=subject.since).select_related("backup").first()
    todo = (
        "Store backups off this machine (PREFLIGHT_BACKUP_S3_BUCKET) and run a drill of one "
        "(Run drill now on the backups page, or manage.py drill)."
    )
    if drill is None or drill.finished_at is None:
        last = passed.first()
        seen = (
            f"the latest, #{last.pk}, passed {subject.ago(last.finished_at)}"
            if last is not None and last.finished_at is not None
            else "none ever passed"
        )
        return Outcome(
            "fail",
            f"No restore drill of {db.name} passed {subject.in_window} ({seen}): nothing shows "
            f"its off-site copies restore. {todo}",
            data={"database": db.name, "drill": last.pk if last else None},
        )
    backup = drill.backup
    data = {"database": db.name, "drill": drill.pk, "backup": backup.pk if backup else None}
    what = f"Restore drill #{drill.pk} of {db.name}, which passed {subject.ago(drill.finished_at)},"
    if backup is None:
        return Outcome(
            "fail",
            f"{what} restored a backup that is no longer recorded: where it came from is "
            f"unknown. {todo}",
            data=data,
        )
    where = _offsite(backup.location)
    data["offsite"] = bool(where)
    if not where:
        return Outcome(
            "fail",
            f"{what} restored backup #{backup.pk} from this machine's disk, not from off-site "
            f"storage: nothing shows the off-site copies restore. {todo}",
            data=data,
        )
    took = f" in {drill.restore_seconds:.1f} s" if drill.restore_seconds is not None else ""
    return Outcome(
        "pass",
        f"{what} restored backup #{backup.pk} from off-site storage ({where}){took}.",
        data=data,
    )


@probe("retention_configured", scope=DATABASE)
def retention_configured(subject: Subject) -> Outcome:
    """The database's retention was chosen for it, not left at the default."""
    db = subject.db
    own = Backup.objects.filter(
        database=db, keep_until__isnull=False, deleted_at__isnull=True, created_at__lte=subject.now
    ).count()
    data = {"database": db.name, "retention_days": db.retention_days, "own_retention": own}
    kept = (
        f"; {count(own, 'backup')} {'keeps' if own == 1 else 'keep'} a retention of "
        f"{'its' if own == 1 else 'their'} own (keep until)"
        if own
        else ""
    )
    if db.retention_days is None:
        return Outcome(
            "fail",
            f"{db.name} keeps the backups Preflight takes for the default {DEFAULT_RETENTION_DAYS} "
            f"days: nobody chose how long{kept}. Set the retention of {db.name} (retention days, "
            "Django admin → Databases) to what your recovery policy requires.",
            data=data,
        )
    return Outcome(
        "pass",
        f"{db.name} keeps the backups Preflight takes for {count(db.retention_days, 'day')}, "
        f"set for this database{kept}.",
        data=data,
    )


@probe("size_alarm_configured", scope=DATABASE)
def size_alarm_configured(subject: Subject) -> Outcome:
    """The database has a backup size limit, and its latest backup is within it."""
    db = subject.db
    limit = db.size_limit_bytes
    shrink = f"below {float(db.shrink_alarm_ratio):.0%} of the one before it"
    data: dict[str, object] = {"database": db.name, "size_limit_bytes": limit}
    if limit is None:
        return Outcome(
            "fail",
            f"{db.name} has no backup size limit: a backup that grows until its disk is full "
            f"raises no alarm (only one that shrinks {shrink} does). Set its size limit (size "
            "limit bytes, Django admin → Databases).",
            data=data,
        )
    latest = (
        Backup.objects.filter(
            database=db,
            status=Backup.Status.SUCCEEDED,
            size_bytes__isnull=False,
            started_at__lte=subject.now,
        )
        .order_by("-started_at", "-id")
        .values("id", "size_bytes")
        .first()
    )
    alarm = Alert.objects.filter(
        database=db, condition=Alert.Condition.BACKUP_SIZE, active=True
    ).exists()
    data.update(latest=latest["id"] if latest else None, alarm_active=alarm)
    watched = (
        f"{db.name} raises backup.failed for a backup over {filesizeformat(limit)} or {shrink}"
    )
    if latest is None:
        return Outcome("pass", f"{watched}; no backup of it has a recorded size yet.", data=data)
    size: int = latest["size_bytes"] or 0  # filtered on: never None here
    if size > limit or alarm:
        return Outcome(
            "warn",
            f"{watched}, and the alarm is up: the latest backup, #{latest['id']}, is "
            f"{filesizeformat(size)}. Make room or raise the limit, and see the backups page.",
            data=data,
        )
    return Outcome(
        "pass",
        f"{watched}; the latest, #{latest['id']}, is {filesizeformat(size)} "
        f"({size / limit:.0%} of the limit).",
        data=data,
    )
