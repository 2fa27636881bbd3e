"""A release's source as Preflight's records and the project's repository tell it: the release an
environment last verified, and the files that changed since then. Rules, pages and other kinds
(a migration rehearsal wants the migrations that changed) call these rather than asking git."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db.models import OuterRef, Subquery

from releases.models import Deployment, DeploymentStatus, Environment, Release

from ..kinds.base import VerifiedRelease
from ..kinds.repository import source

log = logging.getLogger(__name__)

# How many changed files the release page lists (the rest are counted).
SHOWN_CHANGES = 20


def last_verified_release(release: Release, environment: Environment) -> VerifiedRelease | None:
    """The release whose deployment to ``environment`` was verified last, other than
    ``release`` itself: what the environment is known to run, and since when it ran there
    alone (until the next deployment there started). One query."""
    next_started = (
        Deployment.objects.filter(environment=environment, started_at__gt=OuterRef("started_at"))
        .order_by("started_at", "id")
        .values("started_at")[:1]
    )
    deployment = (
        Deployment.objects.filter(
            environment=environment,
            status=DeploymentStatus.VERIFIED,
            release__project_id=release.project_id,
        )
        .exclude(release_id=release.pk)
        .select_related("release")
        .annotate(replaced_at=Subquery(next_started))
        .order_by("-verified_at", "-started_at", "-id")
        .first()
    )
    if deployment is None:
        return None
    return VerifiedRelease(
        version=deployment.release.version,
        git_sha=deployment.release.git_sha,
        live_from=deployment.finished_at or deployment.started_at,
        live_until=deployment.replaced_at,
    )


@dataclass(frozen=True)
class ReleaseChanges:
    """What changed between the release verified last in an environment and this one."""

    environment: str
    since: VerifiedRelease | None  # None: nothing verified there yet
    files: list[source.ChangedFile] = field(default_factory=list)
    problem: str = ""  # why the files are not known (the commits not fetched yet, say)

    @property
    def shown(self) -> list[source.ChangedFile]:
        return self.files[:SHOWN_CHANGES]

    @property
    def more(self) -> int:
        return max(0, len(self.files) - SHOWN_CHANGES)


def release_changes(
    *, release: Release, environment: Environment, fetch: bool = False
) -> ReleaseChanges | None:
    """The files changed since the release last verified in ``environment``; None when the
    project names no repository. Without ``fetch`` only the project's mirror is read, as a run
    left it (pages must not wait on the network); with it, missing commits are fetched."""
    repository = release.project.repository
    if not repository:
        return None
    since = last_verified_release(release, environment)
    if since is None:
        return ReleaseChanges(environment=environment.name, since=None)
    try:
        files = source.changed_files(
            project=release.project.slug,
            repository=repository,
            base=since.git_sha,
            sha=release.git_sha,
            fetch=fetch,
        )
    except source.SourceError as exc:
        return ReleaseChanges(environment=environment.name, since=since, problem=str(exc))
    return ReleaseChanges(environment=environment.name, since=since, files=files)
