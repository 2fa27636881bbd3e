"""Loads the demo. History (releases, deployments, the review run) is written with its own
timestamps, relative to now, so the deployment timeline and the delivery metrics have a past
(its deployments are marked as recorded after the fact: none went through the gate); configuration
goes through the services like any other change and is audited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from backups.models import Backup, Database, RestoreDrill, WalSample
from checks.catalog import import_catalog
from checks.evaluation import evaluate
from checks.models import (
    READINESS_PHASES,
    Attestation,
    Check,
    CheckResult,
    ManualTick,
    ReadinessRun,
    ReportedResult,
    Severity,
    Source,
    Waiver,
)
from checks.services.runs import breakdown
from checks.snapshots import Snapshot
from releases.models import Approval, Deployment, Environment, Lock, Project, Release
from releases.services.projects import environment_create, member_set, project_create
from releases.services.tokens import token_issue

CATALOG = Path(__file__).with_name("liquor-pos.catalog.yml")
SLUG = "liquor-pos"
LOADER = Actor.of_system("demo")
REVIEW_DATE = "2026-01-05"
GAP_CODE = re.compile(r"^[A-Z]+-\d{3}$")

PEOPLE = (
    # username, role, what they do in the demo
    ("admin", "admin", "admin: environments, locks, break glass"),
    ("ana", "approver", "release manager: approves, waives"),
    ("ben", "approver", "release manager: approves, waives"),
    ("dana", "deployer", "developer: registers releases, deploys"),
    ("vic", "viewer", "auditor: reads everything"),
)

ENVIRONMENTS: tuple[dict[str, Any], ...] = (
    {
        "slug": "development",
        "name": "Development",
        "min_score": Decimal(50),
        "required_approvals": 0,
        "requires_previous": False,
        "deploy_timeout": timedelta(minutes=15),
    },
    {
        "slug": "staging",
        "name": "Staging",
        "min_score": Decimal(70),
        "required_approvals": 1,
        "requires_previous": True,
        "deploy_timeout": timedelta(minutes=20),
    },
    {
        "slug": "production",
        "name": "Production",
        "min_score": Decimal(80),
        "required_approvals": 2,
        "requires_previous": True,
        "deploy_timeout": timedelta(minutes=30),
        "auto_rollback": True,
        "approval_ttl": timedelta(days=7),
    },
)


@dataclass(frozen=True)
class Step:
    """One deployment of the history: ``days`` ago, lasting ``minutes``."""

    environment: str
    days: float
    status: str = "verified"
    strategy: str = "rolling"
    minutes: int = 6


HISTORY: dict[str, tuple[float, str, tuple[Step, ...]]] = {
    # version: (created days ago, notes, deployments)
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
        8,
        "First release for all stores: inventory sync, audit log, nightly backups.",
        (
            Step("development", 7.5),
            Step("staging", 7),
        ),
    ),
    "1.1.0": (
        2,
        "Closes the readiness review's gaps: deploy.ps1, CI pipeline, blue-green, rollback SQL.",
        (
            Step("development", 1.8, strategy="blue-green"),
            Step("staging", 1.2, strategy="blue-green"),
        ),
    ),
}


def load(*, password: str) -> Project | None:
    """Load the demo; None if it is already there."""
    if Project.objects.filter(slug=SLUG).exists():
        return None
    now = timezone.now()
    with transaction.atomic():
        project = project_create(
            actor=LOADER,
            slug=SLUG,
            name="Liquor POS",
            description="Point of sale and store management for a chain of Florida liquor stores.",
        )
        people = _people(project, password)
        environments = {
            spec["slug"]: environment_create(actor=LOADER, project=project, position=i, **spec)
            for i, spec in enumerate(ENVIRONMENTS)
        }
        import_catalog(actor=LOADER, project=project, text=CATALOG.read_text(), check_access=False)
        checks = {
            c.code: c for c in Check.objects.filter(project=project).select_related("category")
        }
        # The pipeline that reported 1.1.0's ci checks (its token itself is not kept anywhere).
        people["pipeline"], _ = token_issue(actor=LOADER, name="github-actions", project=project)
        releases = _history(project, environments, people, now)
        _review_run(releases["1.0.0"], environments["production"], checks, people, now)
        for env in ("staging", "production"):
            _fixed_run(releases["1.1.0"], environments[env], checks, people, now)
        _backups(project, now)
        audit.record(
            actor=LOADER,
            action="demo.loaded",
            obj=project,
            project_id=project.pk,
            after={
                "releases": sorted(releases),
                "checks": len(checks),
                # Seeded history has no events of its own; this one accounts for it.
                "seeded_deployments": Deployment.objects.filter(release__project=project).count(),
                "seeded_approvals": Approval.objects.filter(release__project=project).count(),
            },
        )
    return project


def _people(project: Project, password: str) -> dict[str, Any]:
    User = get_user_model()
    people = {}
    for username, role, _ in PEOPLE:
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_superuser = role == "admin"
        user.save()
        member_set(actor=LOADER, project=project, user=user, role=role, check_access=False)
        people[username] = user
    return people


def _history(
    project: Project, environments: dict[str, Environment], people: dict[str, Any], now: datetime
) -> dict[str, Release]:
    releases = {}
    for number, (version, (created_days, notes, steps)) in enumerate(HISTORY.items()):
        release = Release.objects.create(
            project=project,
            version=version,
            git_sha=f"{0x3A1F9C2 + number * 0x1D4B7:07x}{version.replace('.', '')}e4c1b7d0a9f2",
            notes=notes,
            created_by=people["dana"],
            created_at=now - timedelta(days=created_days),
        )
        releases[version] = release
        for step in steps:
            _deploy(release, environments[step.environment], step, people, now)
    return releases


def _deploy(
    release: Release, environment: Environment, step: Step, people: dict[str, Any], now: datetime
) -> Deployment:
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
            "verification_failed": "Post-deploy checks failed: POST-04 fail (checkout answered 502).",
        }.get(step.status, "Post-deploy checks passed."),
        started_by=people["dana"],
        started_at=started,
        finished_at=finished,
        verified_at=None if failed_outright else finished + timedelta(minutes=2),
        recorded_after_the_fact=True,
    )
    if step.status == "verification_failed":
        _rollback(deployment, people, finished + timedelta(minutes=3))
    return deployment


def _rollback(faulty: Deployment, people: dict[str, Any], at: datetime) -> None:
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
        status_detail="Automatic rollback: post-deploy verification failed.",
        rollback_of=faulty,
        started_at=at,
        finished_at=at + timedelta(minutes=9),
        verified_at=at + timedelta(minutes=11),
        recorded_after_the_fact=True,
    )
    Lock.objects.create(
        environment=faulty.environment,
        reason=f"Rollback of {faulty.release.version} to {previous.release.version}: post-deploy verification failed.",
        owner_label="system:auto-rollback",
        deployment=rollback,
        created_at=at,
        released_at=at + timedelta(hours=20),
        released_by_label=people["admin"].get_username(),
    )


def _finished_run(
    release: Release, environment: Environment, at: datetime, requested_by: Any
) -> ReadinessRun:
    return ReadinessRun.objects.create(
        release=release,
        environment=environment,
        status=ReadinessRun.Status.FINISHED,
        attempts=1,
        requested_by=requested_by,
        created_at=at,
        started_at=at,
        heartbeat_at=at,
        finished_at=at + timedelta(seconds=4),
    )


def _score(run: ReadinessRun) -> dict[str, Any]:
    """Score the seeded run; returns the evidence an approval of it records."""
    evaluation = evaluate(run)
    run.score = evaluation.overall
    run.breakdown = breakdown(evaluation)
    run.save(update_fields=["score", "breakdown"])
    snapshot = Snapshot.of(evaluation)
    return {"score": snapshot.score, "evidence": dict(snapshot.statuses)}


def _tick(
    release: Release, environment: Environment, check: Check, who: Any, note: str, at: datetime
) -> ManualTick:
    return ManualTick.objects.create(
        release=release,
        environment=environment,
        check_item=check,
        ticked_by=who,
        note=note,
        created_at=at,
    )


def _review_run(
    release: Release,
    production: Environment,
    checks: dict[str, Check],
    people: dict[str, Any],
    now: datetime,
) -> None:
    """Release 1.0.0's production run reproduces the review: each gap fails with the review's
    impact as its detail, each strength passes. Checklist items that are not gaps were added to
    the catalog after the review, so this run does not cover them."""
    at = now - timedelta(days=6)
    reviewer = people["ana"]
    run = _finished_run(release, production, at, reviewer)
    for check in checks.values():
        if check.phase not in READINESS_PHASES or not (
            GAP_CODE.match(check.code) or "-S" in check.code
        ):
            continue
        gap = bool(GAP_CODE.match(check.code))
        ticked = not gap and check.kind == "manual"
        CheckResult.objects.create(
            run=run,
            check_item=check,
            category=check.category,
            severity=check.severity,
            status="fail" if gap else "pass",
            detail=check.impact if gap else f"Confirmed by the readiness review of {REVIEW_DATE}.",
            evaluated_at=at,
            updated_at=at,
            source=Source.PERSON if ticked else Source.WORKER,
            source_user=reviewer if ticked else None,
        )
        if ticked:
            _tick(
                release,
                production,
                check,
                reviewer,
                f"Confirmed in the review of {REVIEW_DATE}.",
                at,
            )
    evidence = _score(run)
    Approval.objects.create(
        release=release,
        environment=production,
        approver=people["ben"],
        decision="reject",
        comment="Not ready: the readiness review found 7 critical blockers.",
        run=run,
        created_at=at + timedelta(hours=2),
        **evidence,
    )


# Release 1.1.0 fixed the review's gaps, except two whose risk the release managers accepted.
WAIVED = {
    "DK-003": (
        "pending",
        "Waiting for someone to tick it.",
        "Horizontal scaling is a next-quarter item in the review; one node per store carries the load.",
    ),
    "BK-003": (
        "error",
        "The environment variable LIQUOR_POS_DATABASE_URL (the database's connection string) is not set.",
        "This Preflight cannot reach the store databases; the DBA verified WAL archiving on each (ticket OPS-412).",
    ),
}
RECORDED = {  # what the 1.1.0 runs recorded for checks that probe live systems
    "http": "answered 200 in 38 ms.",
    "backup": "Restore drill passed 2 days ago (restored in 412.0 s).",
    "repository": "Rule holds in preflight/demo/liquor-pos/1.1.0.",
}


def _fixed_run(
    release: Release,
    environment: Environment,
    checks: dict[str, Check],
    people: dict[str, Any],
    now: datetime,
) -> None:
    at = now - timedelta(hours=3 if environment.slug == "production" else 28)
    run = _finished_run(release, environment, at, people["dana"])
    for check in checks.values():
        if check.phase not in READINESS_PHASES:
            continue
        status, detail = "pass", RECORDED.get(check.kind, "")
        source: dict[str, Any] = {"source": Source.WORKER}
        if check.code in WAIVED:
            status, detail, _ = WAIVED[check.code]
        elif check.kind == "manual":
            note = f"Fixed in {release.version}." if GAP_CODE.match(check.code) else "In place."
            tick = _tick(
                release, environment, check, people["dana"], note, at - timedelta(minutes=30)
            )
            detail = f"Ticked by dana: {note}"
            source = {"source": Source.PERSON, "source_user": people["dana"]}
            if check.severity == Severity.CRITICAL:
                # dana registered the release: a second person attests the critical ticks.
                Attestation.objects.create(
                    tick=tick, attested_by=people["ben"], created_at=at - timedelta(minutes=20)
                )
                detail += " Attested by ben."
                source["attested_by"] = people["ben"]
        elif check.kind == "ci":
            ReportedResult.objects.create(
                release=release,
                environment=environment,
                check_item=check,
                status="pass",
                detail="Pipeline passed.",
                reported_by_label="token:github-actions",
                token=people["pipeline"],
                created_at=at,
            )
            detail = "Pipeline passed."
            source = {"source": Source.PIPELINE, "source_token": people["pipeline"]}
        CheckResult.objects.create(
            run=run,
            check_item=check,
            category=check.category,
            severity=check.severity,
            status=status,
            detail=detail,
            evaluated_at=at,
            updated_at=at,
            **source,
        )
    for code, (_, _, reason) in WAIVED.items():
        Waiver.objects.get_or_create(
            release=release,
            check_item=checks[code],
            revoked_at=None,
            defaults={
                "reason": reason,
                "expires_at": now + timedelta(days=60),
                "created_by": people["ana"],
                "created_at": at - timedelta(minutes=10),
            },
        )
    evidence = _score(run)
    Approval.objects.create(
        release=release,
        environment=environment,
        approver=people["ana"],
        decision="approve",
        comment="Gaps closed; two accepted risks waived.",
        run=run,
        created_at=at + timedelta(minutes=20),
        **evidence,
    )


def _backups(project: Project, now: datetime) -> None:
    database = Database.objects.create(
        project=project, name="pos-main", dsn_env="LIQUOR_POS_DATABASE_URL"
    )
    # Nightly at 02:00, the last one the most recent 02:00 that has finished: the demo starts
    # with fresh backups whatever the time of day it is loaded.
    last_night = (now - timedelta(minutes=10)).replace(hour=2, minute=0, second=0, microsecond=0)
    if last_night > now - timedelta(minutes=10):
        last_night -= timedelta(days=1)
    for day in range(7, 0, -1):
        started = last_night - timedelta(days=day - 1)
        Backup.objects.create(
            database=database,
            kind=Backup.Kind.FULL,
            started_at=started,
            finished_at=started + timedelta(minutes=7),
            size_bytes=1_180_000_000 + (7 - day) * 6_500_000,
            sha256=f"{day:02d}" + "9f2c4e1a7b3d5f60" * 3 + "9f2c4e1a7b3d",
            location=f"s3://liquor-pos-backups/pos-main/{started:%Y-%m-%d}.dump",
            encrypted=True,
            verified=True,
            reported_by_label="token:nightly-backup",
        )
    drilled = now - timedelta(days=2)
    drilled_backup = (
        Backup.objects.filter(database=database, finished_at__lt=drilled)
        .order_by("-started_at")
        .first()
    )
    assert drilled_backup is not None
    RestoreDrill.objects.create(
        database=database,
        backup=drilled_backup,
        status=RestoreDrill.Status.PASSED,
        requested_by_label="system:drill-schedule",
        created_at=drilled,
        started_at=drilled,
        finished_at=drilled + timedelta(seconds=412),
        restore_seconds=412.0,
        data_age_seconds=(drilled - drilled_backup.started_at).total_seconds(),
        validations=[{"name": "row counts match the manifest", "passed": True}],
        attempts=1,
    )
    _wal_samples(database, now)


def _wal_samples(database: Database, now: datetime) -> None:
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


def credentials() -> list[tuple[str, str, str]]:
    return [(username, role, about) for username, role, about in PEOPLE]
