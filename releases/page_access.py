"""Access helpers for HTML views. Roles become permissions only in ``releases.access``; these
helpers turn its answers into HTTP: a project the user is not a member of does not exist (404),
an action their role does not allow is refused (403, through ``Denied``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from audit.actors import Actor
from releases.access import Permission, can, permissions_of, require, role_of
from releases.models import Project


def actor_of(request: HttpRequest) -> Actor:
    return Actor.of_user(request.user)


@dataclass(frozen=True)
class ProjectAccess:
    """The project a view works on, with the requesting user's role and what it allows.

    Templates use ``may`` only to hide buttons a user could not use; the views (and the
    services behind them) enforce the same permissions."""

    project: Project
    actor: Actor
    role: str

    @property
    def may(self) -> dict[str, bool]:
        allowed = permissions_of(self.role)
        return {permission.name.lower(): permission in allowed for permission in Permission}

    def can(self, permission: Permission) -> bool:
        return can(self.actor, self.project, permission, role=self.role)

    def require(self, permission: Permission) -> None:
        """Raise Denied (403, audited) unless the role allows ``permission``."""
        require(self.actor, self.project, permission, role=self.role)


def project_for(
    request: HttpRequest, slug: str, permission: Permission = Permission.VIEW
) -> ProjectAccess:
    """The project named ``slug`` if the user is a member of it, else 404 — an outsider learns
    nothing, not even that the project exists. A member whose role lacks ``permission`` gets
    Denied (403)."""
    project = get_object_or_404(Project, slug=slug)
    actor = actor_of(request)
    role = role_of(actor, project)
    if role is None:
        raise Http404("No such project.")
    access = ProjectAccess(project=project, actor=actor, role=role)
    access.require(permission)
    return access
