"""What the Liquor POS team did outside Preflight, written straight into the history: the
releases before Preflight, the deployments of deploy.sh (imported from its log after the review,
so marked as recorded after the fact: none went through the gate), the nightly backups the
backup job reported, the restore drill and a day of WAL archiving samples.

Times are relative to when the demo is loaded, so the timeline, the backups page and the
delivery metrics have a recent past."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backups.models import Backup, Database, RestoreDrill, WalSample
from releases.models import Deployment, Environment, Lock, Project, Release


@dataclass(frozen=True)
class Step:
    """One deployment of the history: ``days`` ago, lasting ``minutes``."""

    environment: str
    days: float
    status: str = "verified"
    strategy: str = "rolling"
    minutes: int = 6


# version: (registered days ago, notes, deployments deploy.sh made before Preflight saw them)
RELEASES: dict[str, tuple[float, str, tuple[Step, ...]]] = {
    "0.9.0": (
        70,
        "Florida excise tax tables; card reader driver update.",
        (
            Step("development", 69),
            Step("staging", 67),
            Step("production", 63, strategy="recreate", minutes=14),
        ),
    ),
    "0.9.1": (
        49,
        "Loyalty points at checkout.",
        (
            Step("development", 48),
            Step("staging", 46),
            Step("production", 42, status="verification_failed", strategy="recreate", minutes=12),
        ),
    ),
    "0.9.2": (
        35,
        "Loyalty points fix: rounding of points on refunds.",
        (
            Step("development", 34),
            Step("staging", 33),
            Step("production", 30, strategy="recreate", minutes=11),
        ),
    ),
    "0.9.3": (
        21,
        "Age verification prompt for spirits over 40% ABV.",
        (
            Step("development", 20.5, status="failed", minutes=4),
            Step("development", 20),
            Step("staging", 18),
            Step("production", 16, strategy="recreate", minutes=10),
        ),
    ),
    "1.0.0": (
        12,
        "First release for all stores: inventory sync, audit log, nightly backups.",
        (
            Step("development", 11.5),
            Step("staging", 11),
        ),
    ),
}


def releases(
    project: Project, creator: Any, now: datetime, shas: dict[str, str]
) -> dict[str, Release]:
    """The releases registered before the review, with their own registration times and their
    commits in the demo's repository."""
    return {
        version: Release.objects.create(
            project=project,
            version=version,
            git_sha=shas[version],
            notes=notes,
            created_by=creator,
            created_at=now - timedelta(days=days),
        )
        for version, (days, notes, _) in RELEASES.items()
    }


def deployments(
    releases: dict[str, Release],
    environments: dict[str, Environment],
    deployer: Any,
    admin: Any,
    now: datetime,
) -> int:
    """deploy.sh's log, imported: every deployment made before Preflight recorded them."""
    written = 0
    for version, (_, _, steps) in RELEASES.items():
        for step in steps:
            written += _deploy(
                releases[version], environments[step.environment], step, deployer, admin, now
            )
    return written


def _deploy(
    release: Release, environment: Environment, step: Step, deployer: Any, admin: Any, now: datetime
) -> int:
    started = now - timedelta(days=step.days)
    finished = started + timedelta(minutes=step.minutes)
    failed_outright = step.status == "failed"
    deployment = Deployment.objects.create(
        release=release,
        environment=environment,
        strategy=step.strategy,
        status=step.status,
        status_detail={
            "failed": "Migration 20251020_sales timed out on the inventory table.",
            "verification_failed": "Smoke tests failed after the deployment: checkout answered 502.",
        }.get(step.status, "Health checks passed after the deployment."),
        started_by=deployer,
        started_at=started,
        finished_at=finished,
        verified_at=None if failed_outright else finished + timedelta(minutes=2),
        recorded_after_the_fact=True,
    )
    if step.status == "verification_failed":
        _rollback(deployment, admin, finished + timedelta(minutes=3))
        return 2
    return 1


def _rollback(faulty: Deployment, admin: Any, at: datetime) -> None:
    """deploy.sh's trap rolled back by itself; someone unlocked the environment the next day."""
    previous = (
        Deployment.objects.filter(
            environment=faulty.environment, status="verified", started_at__lt=faulty.started_at
        )
        .order_by("-started_at")
        .first()
    )
    assert previous is not None
    rollback = Deployment.objects.create(
        release=previous.release,
        environment=faulty.environment,
        strategy=faulty.strategy,
        status="verified",
        status_detail="Automatic rollback: the smoke tests failed after the deployment.",
        rollback_of=faulty,
        started_at=at,
        finished_at=at + timedelta(minutes=9),
        verified_at=at + timedelta(minutes=11),
        recorded_after_the_fact=True,
    )
    Lock.objects.create(
        environment=faulty.environment,
        reason=f"Rollback of {faulty.release.version} to {previous.release.version}: the smoke tests failed.",
        owner_label="system:auto-rollback",
        deployment=rollback,
        created_at=at,
        released_at=at + timedelta(hours=20),
        released_by_label=admin.get_username(),
    )


def nightly(now: datetime) -> list[datetime]:
    """02:00 of each of the last 21 nights, the last one the most recent that has finished: the
    demo starts with fresh backups whatever the time of day it is loaded."""
    last_night = (now - timedelta(minutes=10)).replace(hour=2, minute=0, second=0, microsecond=0)
    if last_night > now - timedelta(minutes=10):
        last_night -= timedelta(days=1)
    return [last_night - timedelta(days=n) for n in range(20, -1, -1)]


def backups(database: Database, nights: list[datetime], *, encrypted: bool) -> list[Backup]:
    """The backup job's reports: a full dump each night, uploaded to S3 and checked (its
    checksum verified), encrypted or not as the job was set up then."""
    written = []
    for started in nights:
        day = (started.date() - nights[0].date()).days if nights else 0
        written.append(
            Backup.objects.create(
                database=database,
                kind=Backup.Kind.FULL,
                started_at=started,
                finished_at=started + timedelta(minutes=7),
                size_bytes=1_120_000_000 + day * 4_500_000,
                sha256=hashlib.sha256(f"pos-main {started:%Y-%m-%d}".encode()).hexdigest(),
                location=f"s3://liquor-pos-backups/pos-main/{started:%Y-%m-%d}.dump",
                encrypted=encrypted,
                verified=True,
                reported_by_label="token:nightly-backup",
            )
        )
    return written


def drill(database: Database, at: datetime) -> RestoreDrill:
    """A restore drill of the last backup before ``at``, fetched from S3: it passed."""
    backup = (
        Backup.objects.filter(database=database, finished_at__lt=at).order_by("-started_at").first()
    )
    assert backup is not None
    return RestoreDrill.objects.create(
        database=database,
        backup=backup,
        status=RestoreDrill.Status.PASSED,
        requested_by_label="system:drill-schedule",
        created_at=at,
        started_at=at,
        finished_at=at + timedelta(seconds=412),
        restore_seconds=412.0,
        data_age_seconds=(at - backup.started_at).total_seconds(),
        validations=[{"name": "row counts match the manifest", "passed": True}],
        attempts=1,
    )


def wal_samples(database: Database, now: datetime) -> None:
    """A day of hourly WAL archiving samples: healthy, but for an archive_command that failed
    for two hours last night until someone fixed the bucket's permissions."""
    archived, failed = 48_210, 0
    last_failed: tuple[str, datetime] | None = None
    for hours_ago in range(24, 0, -1):
        taken = now - timedelta(hours=hours_ago)
        segment = f"00000001000000A4000000{(0x40 + 24 - hours_ago):02X}"
        failing = hours_ago in (9, 8)
        if failing:
            failed += 7
            last_failed = (segment, taken)
        else:
            archived += 12
        WalSample.objects.create(
            database=database,
            taken_at=taken,
            state=WalSample.State.FAILING if failing else WalSample.State.HEALTHY,
            message=(
                f"archiving is failing: segment {segment} failed at {taken:%Y-%m-%d %H:%M:%S} UTC "
                f"({failed} failures in all)."
                if failing
                else f"archiving healthy: {archived} segments archived, the last ({segment}) 41 s ago."
            ),
            archive_mode="on",
            archive_command="pgbackrest --stanza=pos archive-push %p",
            archived_count=archived,
            failed_count=failed,
            last_archived_wal=segment,
            last_archived_at=taken - timedelta(seconds=41),
            last_failed_wal=last_failed[0] if last_failed else "",
            last_failed_at=last_failed[1] if last_failed else None,
        )
