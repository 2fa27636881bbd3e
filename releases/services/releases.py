from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit import services as audit
from audit.actors import Actor
from core import text
from core.errors import Conflict

from .. import webhooks
from ..access import Permission, require
from ..models import Project, Release
from ..models.releases import FULL_GIT_SHA

RELEASE_FIELDS = ("version", "git_sha", "notes")


def release_register(
    *, actor: Actor, project: Project, version: str, git_sha: str, notes: str = ""
) -> tuple[Release, bool]:
    """Register a release, or return the one already registered with this version and commit.

    Registering is safe to repeat (CI retries): the same version and commit answer with the
    existing release and ``created=False``; the same version with another commit is a conflict,
    because a version must name exactly one build."""
    git_sha = git_sha.strip().lower()
    with audit.refusals_recorded(
        actor=actor,
        action="release.created",
        obj=project,
        project_id=project.pk,
        attempted={"version": version, "git_sha": git_sha},
    ):
        require(actor, project, Permission.REGISTER_RELEASE)
        if project.repository and not FULL_GIT_SHA.match(git_sha):
            raise ValidationError(
                {
                    "git_sha": "This project names its git repository: give the full commit id "
                    "(40 or 64 hexadecimal characters), the one its runs fetch."
                }
            )
        existing = Release.objects.filter(project=project, version=version).first()
        if existing is not None:
            return _same_or_conflict(existing, git_sha), False
        text.check_lengths(notes=(notes, text.NOTES))
        release = Release(
            project=project,
            version=version,
            git_sha=git_sha,
            notes=notes,
            created_by=actor.user,
            created_by_token=actor.token,
        )
        release.full_clean()
        try:
            with transaction.atomic():
                release.save()
                audit.record(
                    actor=actor,
                    action="release.created",
                    obj=release,
                    project_id=project.pk,
                    after=audit.snapshot(release, RELEASE_FIELDS),
                )
                webhooks.emit(
                    project=project,
                    event="release.created",
                    data={"version": version, "git_sha": git_sha, "by": actor.label},
                )
        except IntegrityError:
            # Another request registered the same version between our read and our insert.
            existing = Release.objects.get(project=project, version=version)
            return _same_or_conflict(existing, git_sha), False
    return release, True


def _same_or_conflict(existing: Release, git_sha: str) -> Release:
    if existing.git_sha != git_sha:
        raise Conflict(
            f"Version {existing.version} is already registered for commit {existing.git_sha}; "
            "register the new build under a new version.",
            code="version_conflict",
            existing_git_sha=existing.git_sha,
        )
    return existing
