"""Loads the demo by replaying the Liquor POS project's history in order, with the services a
person or a pipeline would use and the check code a worker runs:

1. the project as it stood at the readiness review (no approvals required, no automatic
   rollback, no promotion rule, no webhooks, unencrypted backups and no restore drill, no
   pipeline; the catalog held the review's gaps and strengths);
2. the review: 1.0.0's production run, evaluated by the real checks as of the review's
   moment — the risk summary (7 critical, 15 high, 14 medium, 5 low = 41) comes from that
   evidence, none of it is written by the loader;
3. the fixes of 1.1.0: the settings, the checklist items added to the catalog, a webhook, the
   pipeline's token, encrypted backups, deploy.sh's past deployments imported, a rollback
   rehearsed in staging through Preflight, a restore drill from S3;
4. 1.1.0: registered, its ci checks reported by the pipeline, its checklists ticked, its runs in
   development, staging and production, its deployments through the gate.

The review's date (2026-01-05) is replayed as ``REVIEW_DAYS_AGO`` days before loading, so the
dashboards show a recent past. The sources are a real git repository built from the shipped
trees (``repository.py``) under the var directory; the catalog names it, so each run fetches its
release's commit and the repository checks judge that commit's tree."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from audit.models import AuditEvent
from backups import storage
from backups.models import Backup, Database
from backups.services.taking import backup_take_now
from backups.wal import safe_error
from checks.catalog import import_catalog
from checks.models import Category, Check, ReadinessRun, Severity
from checks.services.approvals import approval_record
from checks.services.attestations import attestation_record
from checks.services.deployments import deployment_rollback
from checks.services.results import ci_result_record, tick_record
from checks.services.waivers import waiver_grant
from core.config import secret_value
from releases.models import ApiToken, Approval, Deployment, Environment, Project, Release, Webhook
from releases.services.locks import lock_release
from releases.services.projects import (
    environment_create,
    environment_update,
    member_set,
    project_create,
)
from releases.services.releases import release_register
from releases.services.tokens import token_issue

from . import history, posdb, replay, repository

CATALOG = Path(__file__).with_name("liquor-pos.catalog.yml")
SLUG = "liquor-pos"
LOADER = Actor.of_system("demo")
REVIEW_DATE = "2026-01-05"
REVIEW_DAYS_AGO = 10
# The post-deploy objective on Preflight's own metrics, and where its Prometheus is named.
METRICS_OBJECTIVE = "POST-07"
PROMETHEUS_ENV = "LIQUOR_POS_PROMETHEUS_URL"
GAP_CODE = re.compile(r"^[A-Z]+-\d{3}$")
STRENGTH_CODE = re.compile(r"^[A-Z]+-S\d+$")

PEOPLE = (
    # username, role, what they do in the demo
    ("admin", "admin", "admin: environments, locks, break glass"),
    ("ana", "approver", "release manager: approves, waives"),
    ("ben", "approver", "release manager: approves, waives"),
    ("dana", "deployer", "developer: registers releases, deploys"),
    ("vic", "viewer", "auditor: reads everything"),
)
AUDITORS = {"vic"}

# The environments as they stood at the review: nothing required approvals, nothing had to
# pass an earlier environment first, nothing rolled back by itself.
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
        "required_approvals": 0,
        "requires_previous": False,
        "deploy_timeout": timedelta(minutes=20),
    },
    {
        "slug": "production",
        "name": "Production",
        "min_score": Decimal(80),
        "required_approvals": 0,
        "requires_previous": False,
        "deploy_timeout": timedelta(minutes=30),
    },
)
# What the team changed after the review (CI-003, DS-008, DS-011 and the approvals' lifetime).
SETTINGS_FIXED: dict[str, dict[str, Any]] = {
    "staging": {"required_approvals": 1, "requires_previous": True},
    "production": {
        "required_approvals": 2,
        "requires_previous": True,
        "auto_rollback": True,
        "approval_ttl": timedelta(days=7),
    },
}
# The chat channel the team subscribed after the review (DS-009, BK-002). Its host does not
# exist: deliveries to it fail, as they would to any receiver this machine cannot reach.
WEBHOOK = {
    "name": "store-ops chat",
    "url": "https://chat.liquor-pos.example/hooks/preflight",
    "slack_format": True,
    "events": [
        "deployment.finished",
        "deployment.verification_failed",
        "rollback.started",
        "override.used",
        "backup.failed",
        "backup.stale",
        "drill.failed",
        "wal.failing",
    ],
}
DATABASE_FIXED = {"retention_days": 35, "size_limit_bytes": 2_000_000_000}  # BK-006, BK-007
PIPELINE = "github-actions"

# How 1.1.0 fixed the gaps a person judges: the notes of dana's ticks, and their links.
FIXED_BY_HAND = {
    "DS-002": (
        "Blue-green in staging: the load balancer switched to the new backend without a dropped sale.",
        "https://ops.liquor-pos.example/lb/staging/switch-1.1.0",
    ),
    "DS-005": (
        "v1.1.0 is tagged on the release's commit; deploy.sh tags what it deploys.",
        "https://git.liquor-pos.example/pos/tags/v1.1.0",
    ),
    "DS-006": (
        'GET /health on the staging frontend answers 200 {"status": "ok"} from nginx itself.',
        "https://ops.liquor-pos.example/probes/staging-frontend-health",
    ),
    "RB-004": (
        "Rolled the frontend back alone in staging (SERVICES=frontend); the backend stayed on 1.1.0.",
        "https://ops.liquor-pos.example/runbooks/partial-rollback-rehearsal",
    ),
    "ENV-001": (
        "The backend refuses to start without JWT_SECRET and names it in the log.",
        "https://ops.liquor-pos.example/logs/backend-start-without-jwt-secret",
    ),
}
# Release 1.1.0 fixed the review's gaps, except two whose risk the release managers accepted.
WAIVED = {
    "DK-003": "Horizontal scaling is a next-quarter item in the review; one node per store carries the load.",
    "BK-003": "This Preflight cannot reach the store databases; the DBA verified WAL archiving on each (ticket OPS-412).",
}


@dataclass
class Demo:
    """What the steps of the replay share."""

    project: Project
    now: datetime
    people: dict[str, Any]
    environments: dict[str, Environment]
    repository: repository.Repository
    database: Database
    releases: dict[str, Release] = field(default_factory=dict)
    pipeline: ApiToken | None = None
    seeded_deployments: int = 0
    # The Liquor POS database written on PostgreSQL (its name), "" where there is none.
    pos_database: str = ""

    def ago(self, days: float = 0, *, hours: float = 0) -> datetime:
        return self.now - timedelta(days=days, hours=hours)

    @property
    def review_at(self) -> datetime:
        return self.ago(REVIEW_DAYS_AGO)

    def actor(self, username: str) -> Actor:
        return Actor.of_user(self.people[username])

    def check(self, code: str) -> Check:
        return Check.objects.get(project=self.project, code=code)


def load(*, password: str) -> Project | None:
    """Load the demo; None if it is already there.

    It is written in two committed steps. The first holds everything up to 1.1.0's production
    run, started but not executed; the run is then executed as a worker does, after that
    commit, because its migration rehearsal reads Preflight's rows (the database, its backup,
    the run) from connections of its own. A load that fails after the first commit removes
    the project again, so a half demo is never left; one interrupted harder (the process
    killed) is found by the next load, which removes it and starts again."""
    existing = Project.objects.filter(slug=SLUG).first()
    if existing is not None:
        if not _half_loaded(existing):
            return None
        remove(existing)
    repository_url()  # the settings can hold the demo's repository, or nothing is written
    try:
        pos_dsn = posdb.configured_dsn()
    except posdb.PosDatabaseError as exc:
        raise DemoError(str(exc)) from None
    with replay.health_endpoints():
        with transaction.atomic():
            demo = as_at_review(password=password)
            review(demo)
            after_review(demo)
            production = fixed_release(demo, pos_dsn=pos_dsn)
        try:
            to_production(demo, production)
            with transaction.atomic():
                history.wal_samples(demo.database, demo.now)
                audit.record(
                    actor=LOADER,
                    action="demo.loaded",
                    obj=demo.project,
                    project_id=demo.project.pk,
                    after={
                        "releases": sorted(demo.releases),
                        "checks": Check.objects.filter(project=demo.project).count(),
                        "repository": str(demo.repository.path),
                        # Written straight into the history, without events of their own:
                        # deploy.sh's deployments (imported) and the backup job's reports.
                        "seeded_deployments": demo.seeded_deployments,
                        "seeded_approvals": 0,
                        "pos_database": demo.pos_database,
                    },
                )
        except BaseException:
            remove(demo.project)
            raise
    return demo.project


def _half_loaded(project: Project) -> bool:
    """The demo's project as a load left it that never finished: the loader created it, and
    it has no ``demo.loaded`` event. A project of that name someone else made is kept."""
    events = AuditEvent.objects.filter(project_id=project.pk)
    return (
        events.filter(action="project.created", actor=LOADER.label).exists()
        and not events.filter(action="demo.loaded").exists()
    )


def remove(project: Project) -> None:
    """Remove a demo project that did not finish loading, with the backup files Preflight took
    of its database (the audit log keeps what was done, as it keeps everything)."""
    with transaction.atomic():
        for location in Backup.objects.filter(
            database__project=project, source=Backup.Source.TAKEN
        ).values_list("location", flat=True):
            with contextlib.suppress(storage.StorageError):
                storage.delete(location)
        # The history is kept by protected keys (a deployment's release, a rollback's faulty
        # deployment, a check's category): removed from its ends inwards.
        deployments = Deployment.objects.filter(environment__project=project)
        while deployments.exists():
            deployments.filter(rollbacks__isnull=True).delete()
        ReadinessRun.objects.filter(release__project=project).delete()
        Check.objects.filter(project=project).delete()
        Category.objects.filter(project=project).delete()
        Release.objects.filter(project=project).delete()
        project.delete()


def repository_path() -> Path:
    return Path(settings.VAR_DIR) / "demo" / f"{SLUG}.git"


def repository_url() -> str:
    """The demo's repository as the catalog names a local one: its path under
    PREFLIGHT_REPOSITORY_ROOT (``var/demo/liquor-pos.git`` with the settings of `make run`)."""
    root = Path(settings.PREFLIGHT_REPOSITORY_ROOT).resolve()
    path = repository_path().resolve()
    if not path.is_relative_to(root):
        raise DemoError(
            f"The demo's git repository goes to {path}, which is not under "
            f"PREFLIGHT_REPOSITORY_ROOT ({root}): set PREFLIGHT_VAR_DIR to a directory under it."
        )
    return path.relative_to(root).as_posix()


class DemoError(Exception):
    """The demo cannot be loaded with these settings."""


def catalog(*, at_review: bool = False) -> str:
    """The demo's catalog, naming the repository where this installation keeps it. At the
    review it held the review's gaps and strengths; the checklist items that are not gaps of
    their own were added after it. The post-deploy objective on Preflight's metrics is in it
    only while a Prometheus is configured (``watching_metrics``)."""
    data = yaml.safe_load(CATALOG.read_text())
    data["repository"]["url"] = repository_url()
    if at_review:
        data["checks"] = [
            c for c in data["checks"] if GAP_CODE.match(c["code"]) or STRENGTH_CODE.match(c["code"])
        ]
    if not watching_metrics():
        data["checks"] = [c for c in data["checks"] if c["code"] != METRICS_OBJECTIVE]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def watching_metrics() -> bool:
    """Whether the demo's production deployments are verified by Preflight's metrics: a
    Prometheus is named (LIQUOR_POS_PROMETHEUS_URL). Without one the objective could only be
    `error`, and with production's automatic rollback every deployment there would be rolled
    back for want of a server, not for anything it did; OBS-01 says so instead, before the
    deployment, where an error costs a little score and nothing else."""
    return bool(secret_value(PROMETHEUS_ENV))


def metrics_objective_sync(project: Project | None = None) -> str:
    """Add or remove the post-deploy objective of a loaded demo as the Prometheus setting now
    says (`make run` runs load_demo each time it starts, with the environment its worker gets);
    a message when it changed, "" when it did not."""
    project = project or Project.objects.filter(slug=SLUG).first()
    if project is None:
        return ""
    active = Check.objects.filter(project=project, code=METRICS_OBJECTIVE, is_active=True).exists()
    wanted = watching_metrics()
    if active == wanted:
        return ""
    import_catalog(actor=LOADER, project=project, text=catalog(), check_access=False)
    if wanted:
        return (
            f"{PROMETHEUS_ENV} is set: production deployments are now verified by Preflight's "
            f"metrics ({METRICS_OBJECTIVE}), and rolled back when they fail their clients."
        )
    return (
        f"{PROMETHEUS_ENV} is not set: {METRICS_OBJECTIVE}, the post-deploy objective on "
        "Preflight's metrics, is off until it is."
    )


# 1. The project as it stood at the review.


def as_at_review(*, password: str, now: datetime | None = None) -> Demo:
    now = now or timezone.now()
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
    sources = repository.build(repository_path())
    import_catalog(actor=LOADER, project=project, text=catalog(at_review=True), check_access=False)
    database = Database.objects.create(
        project=project, name="pos-main", dsn_env="LIQUOR_POS_DATABASE_URL"
    )
    _admin_saved(people["admin"], database, created=True)
    demo = Demo(
        project=project,
        now=now,
        people=people,
        environments=environments,
        repository=sources,
        database=database,
    )
    demo.releases = history.releases(project, people["dana"], now, demo.repository.commits)
    # The backup job reported to Preflight before the review: unencrypted dumps on S3.
    history.backups(
        database, [n for n in history.nightly(now) if n < demo.review_at], encrypted=False
    )
    # The reviewer confirmed the strengths a person judges (the gaps are what the run shows).
    for check in _manual_checks(demo, "production"):
        if STRENGTH_CODE.match(check.code):
            _tick(
                demo,
                "ana",
                "1.0.0",
                "production",
                check,
                f"Confirmed in the readiness review of {REVIEW_DATE}.",
                demo.review_at - timedelta(minutes=30),
            )
    return demo


def _people(project: Project, password: str) -> dict[str, Any]:
    User = get_user_model()
    # They share the demo's password: hashing it once spares most of a second per person.
    hashed = make_password(password)
    people = {}
    for username, role, _ in PEOPLE:
        user, _ = User.objects.get_or_create(username=username)
        user.password = hashed
        user.is_superuser = role == "admin"
        # The auditor is staff so the audit log also lists what belongs to no project (sign-ins,
        # refused requests, exports); staff without model permissions can change nothing.
        user.is_staff = role == "admin" or username in AUDITORS
        user.save()
        member_set(actor=LOADER, project=project, user=user, role=role, check_access=False)
        people[username] = user
    return people


def _admin_saved(
    admin: Any, obj: Any, *, created: bool = False, before: dict[str, Any] | None = None
) -> None:
    """Audited as the admin pages audit a change made there (releases.admin.AuditedAdmin)."""
    values = {f.name: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name != "id"}
    audit.record(
        actor=Actor.of_user(admin),
        action=f"admin.{obj._meta.model_name}.{'added' if created else 'changed'}",
        obj=obj,
        project_id=obj.project_id,
        before=before,
        after=values if created else {k: values[k] for k in before or {}},
    )


def _manual_checks(demo: Demo, environment: str) -> list[Check]:
    return list(
        Check.objects.applicable(
            demo.project.pk, demo.environments[environment], ReadinessRun.Kind.READINESS
        )
        .filter(kind="manual")
        .order_by("position", "code")
    )


def _tick(
    demo: Demo,
    who: str,
    version: str,
    environment: str,
    check: Check,
    note: str,
    at: datetime,
    evidence_url: str = "",
) -> None:
    tick = tick_record(
        actor=demo.actor(who),
        release=demo.releases[version],
        environment=demo.environments[environment],
        check=check,
        note=note,
        evidence_url=evidence_url,
    )
    replay.backdate_row(tick, created_at=at)


# 2. The review.


def review_run(demo: Demo) -> ReadinessRun:
    """1.0.0's production run at the review's moment, queued (the replay executes it at once;
    a worker may take it instead)."""
    return replay.start_run(
        actor=demo.actor("ana"),
        release=demo.releases["1.0.0"],
        environment=demo.environments["production"],
        at=demo.review_at,
    )


def review(demo: Demo) -> ReadinessRun:
    run = replay.execute(review_run(demo))
    rejection = approval_record(
        actor=demo.actor("ben"),
        release=demo.releases["1.0.0"],
        environment=demo.environments["production"],
        decision="reject",
        comment="Not ready: the readiness review found 7 critical blockers.",
        run=run,
    )
    replay.backdate_row(rejection, created_at=demo.review_at + timedelta(hours=2))
    return run


# 3. The fixes.


def after_review(demo: Demo) -> None:
    fixed_at = demo.ago(REVIEW_DAYS_AGO - 0.5)
    admin = demo.actor("admin")
    for slug, changes in SETTINGS_FIXED.items():
        demo.environments[slug] = environment_update(
            actor=admin, environment=demo.environments[slug], **changes
        )
    import_catalog(actor=admin, project=demo.project, text=catalog())
    webhook = Webhook.objects.create(project=demo.project, created_at=fixed_at, **WEBHOOK)
    _admin_saved(demo.people["admin"], webhook, created=True)
    before = {name: getattr(demo.database, name) for name in DATABASE_FIXED}
    for name, value in DATABASE_FIXED.items():
        setattr(demo.database, name, value)
    demo.database.save(update_fields=list(DATABASE_FIXED))
    _admin_saved(demo.people["admin"], demo.database, before=before)
    demo.pipeline, _ = token_issue(actor=admin, name=PIPELINE, project=demo.project)
    # The backup job encrypts from now on; the nights since the review before that did not.
    nights = [n for n in history.nightly(demo.now) if n >= demo.review_at]
    history.backups(demo.database, [n for n in nights if n < fixed_at], encrypted=False)
    history.backups(demo.database, [n for n in nights if n >= fixed_at], encrypted=True)
    demo.seeded_deployments = history.deployments(
        demo.releases, demo.environments, demo.people["dana"], demo.people["admin"], demo.now
    )
    _rehearse_rollback(demo, demo.ago(6))
    history.drill(demo.database, demo.ago(3))


def pos_backup(demo: Demo, dsn: str, at: datetime) -> Backup:
    """The Liquor POS database written on its server, and a backup of it taken by Preflight
    before 1.1.0's production run (pg_dump, the manifest's row counts, the checksum read back;
    encrypted with PREFLIGHT_BACKUP_KEY, which `make run` on PostgreSQL keeps in var/). It is
    the newest backup of pos-main, so the one the production run's migration rehearsal
    restores; the nightly job's reports name dumps in a bucket this Preflight holds no
    credentials for."""
    try:
        written = posdb.write(dsn)
    except posdb.PosDatabaseError as exc:
        raise DemoError(str(exc)) from None
    except psycopg.Error as exc:
        raise DemoError(f"Writing the Liquor POS database failed: {safe_error(exc, dsn)}") from None
    demo.pos_database = written.name
    backup = backup_take_now(demo.database, actor=demo.actor("admin"))
    if backup.status != Backup.Status.SUCCEEDED:
        raise DemoError(f"The backup of the Liquor POS database failed: {backup.error}")
    taking = (backup.finished_at or backup.started_at) - backup.started_at
    replay.backdate_row(backup, started_at=at, finished_at=at + taking, created_at=at)
    return backup


def _rehearse_rollback(demo: Demo, at: datetime) -> None:
    """dana rolls 1.0.0 back in staging through Preflight; the post-deploy checks verify the
    release it went back to; the admin unlocks staging once the rehearsal is written up."""
    staging = demo.environments["staging"]
    deployed = Deployment.objects.filter(
        environment=staging, release=demo.releases["1.0.0"]
    ).latest("started_at")
    rollback = deployment_rollback(
        actor=demo.actor("dana"),
        deployment=deployed,
        reason="Rehearsal before 1.1.0 (RB-001): roll staging back and let the smoke tests verify it.",
    )
    replay.backdate_row(rollback, started_at=at)
    replay.backdate_lock(staging, at=at)
    replay.finish(actor=demo.actor("dana"), deployment=rollback, at=at + timedelta(minutes=9))
    lock = lock_release(actor=demo.actor("admin"), environment=staging)
    replay.backdate_row(lock, released_at=at + timedelta(hours=1))


# 4. Release 1.1.0.


def fixed_release(demo: Demo, *, pos_dsn: str | None = None) -> ReadinessRun:
    """1.1.0 up to its production run, started (``to_production`` executes it). Before it, on
    PostgreSQL, the Liquor POS database and Preflight's backup of it, which the run's migration
    rehearsal restores."""
    assert demo.pipeline is not None
    pipeline = Actor.of_token(demo.pipeline)
    release, _ = release_register(
        actor=demo.actor("dana"),
        project=demo.project,
        version="1.1.0",
        git_sha=demo.repository.commits["1.1.0"],
        notes="Closes the readiness review's gaps: deploy.ps1, CI pipeline, blue-green, rollback SQL.",
    )
    replay.backdate_row(release, created_at=demo.ago(2))
    demo.releases["1.1.0"] = release
    # The pipeline's jobs report the ci checks for each environment it may deploy to.
    reported = demo.ago(1.95)
    for environment in ("development", "staging", "production"):
        for check in Check.objects.filter(project=demo.project, kind="ci").order_by("code"):
            report = ci_result_record(
                actor=pipeline,
                release=release,
                environment=demo.environments[environment],
                check=check,
                status="pass",
                detail="Pipeline passed.",
                url=f"https://ci.liquor-pos.example/pos/actions/runs/4412#{check.code.lower()}",
            )
            replay.backdate_row(report, created_at=reported)

    _ready(demo, "development", demo.ago(1.9))
    replay.deploy(
        actor=pipeline,
        release=release,
        environment=demo.environments["development"],
        at=demo.ago(1.8),
        minutes=6,
        strategy="blue-green",
    )

    staging = _ready(demo, "staging", demo.ago(1.3))
    for code, reason in WAIVED.items():
        waiver = waiver_grant(
            actor=demo.actor("ana"),
            release=release,
            check=demo.check(code),
            reason=reason,
            expires_at=demo.now + timedelta(days=60),
        )
        replay.backdate_row(waiver, created_at=staging.created_at + timedelta(minutes=10))
    _approve(demo, "staging", staging, staging.created_at + timedelta(minutes=20))
    replay.deploy(
        actor=pipeline,
        release=release,
        environment=demo.environments["staging"],
        at=demo.ago(1.2),
        minutes=7,
        strategy="blue-green",
    )

    if pos_dsn is not None:
        # The newest backup is the one a rehearsal restores: after the nightly job's last one.
        nightly = Backup.objects.filter(database=demo.database).order_by("-started_at").first()
        after = nightly.taken_at + timedelta(minutes=10) if nightly else demo.ago(hours=3.5)
        pos_backup(demo, pos_dsn, max(demo.ago(hours=3.5), after))
    return _ticked(demo, "production", demo.ago(hours=3))


def to_production(demo: Demo, run: ReadinessRun) -> None:
    """1.1.0's production run, executed once its start has committed (its migration rehearsal
    reads the run from a connection of its own); production waits for a second approver."""
    production = replay.execute(run)
    with transaction.atomic():
        _approve(demo, "production", production, production.created_at + timedelta(minutes=20))


def _ready(demo: Demo, environment: str, at: datetime) -> ReadinessRun:
    """dana ticks 1.1.0's checklist for the environment (ben attests her critical ticks), then
    runs its readiness checks."""
    return replay.execute(_ticked(demo, environment, at))


def _ticked(demo: Demo, environment: str, at: datetime) -> ReadinessRun:
    """dana ticks 1.1.0's checklist for the environment (ben attests her critical ticks), then
    starts its readiness run."""
    for check in _manual_checks(demo, environment):
        note, link = FIXED_BY_HAND.get(check.code, ("In place.", ""))
        _tick(demo, "dana", "1.1.0", environment, check, note, at - timedelta(minutes=30), link)
        if check.severity == Severity.CRITICAL:
            attestation = attestation_record(
                actor=demo.actor("ben"),
                release=demo.releases["1.1.0"],
                environment=demo.environments[environment],
                check=check,
            )
            replay.backdate_row(attestation, created_at=at - timedelta(minutes=20))
    return replay.start_run(
        actor=demo.actor("dana"),
        release=demo.releases["1.1.0"],
        environment=demo.environments[environment],
        at=at,
    )


def _approve(demo: Demo, environment: str, run: ReadinessRun, at: datetime) -> Approval:
    approval = approval_record(
        actor=demo.actor("ana"),
        release=demo.releases["1.1.0"],
        environment=demo.environments[environment],
        decision="approve",
        comment="Gaps closed; two accepted risks waived.",
        run=run,
    )
    replay.backdate_row(approval, created_at=at)
    return approval


def credentials() -> list[tuple[str, str, str]]:
    return [(username, role, about) for username, role, about in PEOPLE]
