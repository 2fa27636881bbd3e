"""Who may do what in a project: the one place roles become permissions.

Views, API endpoints and services all ask ``require`` / ``can``; none of them compares role
names itself."""

from __future__ import annotations

from enum import StrEnum

from audit.actors import Actor
from core.errors import Denied

from .models import Membership, Project, Role


class Permission(StrEnum):
    VIEW = "view"
    TICK = "tick checklist items in"
    ATTEST = "attest ticks of critical checks in"
    RUN_CHECKS = "run readiness checks in"
    REGISTER_RELEASE = "register releases in"
    REPORT = "report check results and backups to"
    DEPLOY = "record deployments in"
    ROLLBACK = "roll back deployments in"
    APPROVE = "approve releases in"
    WAIVE = "waive checks in"
    OVERRIDE = "override a closed gate in"
    BACKUP = "take backups of the databases of"
    DRILL = "run restore drills in"
    # Admins only: how often backups and drills load a database server is the project's call.
    SCHEDULE = "change the backup, drill and WAL schedules of"
    MANAGE = "manage"


CI_ROLE = "ci"
# Preflight acting on its own (verification runs, automatic rollbacks, timeouts).
SYSTEM_ROLE = "system"

_DEPLOYER = frozenset(
    {
        Permission.VIEW,
        Permission.TICK,
        Permission.ATTEST,
        Permission.RUN_CHECKS,
        Permission.REGISTER_RELEASE,
        Permission.REPORT,
        Permission.DEPLOY,
        Permission.ROLLBACK,
    }
)
# Backups and drills load the database server; approvers answer for readiness, so they may.
_APPROVER = _DEPLOYER | {Permission.APPROVE, Permission.WAIVE, Permission.BACKUP, Permission.DRILL}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.DEPLOYER: _DEPLOYER,
    Role.APPROVER: _APPROVER,
    Role.ADMIN: frozenset(Permission),
    # Service tokens are pipelines, not people: they never approve, waive, override, tick or
    # attest.
    CI_ROLE: frozenset(
        {
            Permission.VIEW,
            Permission.RUN_CHECKS,
            Permission.REGISTER_RELEASE,
            Permission.REPORT,
            Permission.DEPLOY,
            Permission.ROLLBACK,
        }
    ),
    SYSTEM_ROLE: frozenset(
        {
            Permission.VIEW,
            Permission.RUN_CHECKS,
            Permission.DEPLOY,
            Permission.ROLLBACK,
            Permission.REPORT,
            Permission.BACKUP,
            Permission.DRILL,
        }
    ),
}


def role_of(actor: Actor, project: Project) -> str | None:
    """The actor's role in the project, or None when it has no access at all."""
    token = actor.token
    if actor.user is None and token is None:
        return SYSTEM_ROLE if actor.system and actor.system != "anonymous" else None
    if token is not None and token.is_service:
        return CI_ROLE if token.project_id == project.pk else None
    if actor.user is None or not actor.user.is_active:
        return None
    return (
        Membership.objects.filter(project=project, user=actor.user)
        .values_list("role", flat=True)
        .first()
    )


def permissions_of(role: str | None) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(role or "", frozenset())


def can(actor: Actor, project: Project, permission: Permission, *, role: str | None = None) -> bool:
    return permission in permissions_of(role if role is not None else role_of(actor, project))


def require(
    actor: Actor, project: Project, permission: Permission, *, role: str | None = None
) -> str:
    """Raise Denied unless the actor holds the permission; return the actor's role. A caller
    that already knows the role passes it (as with ``can``) to spare the lookup."""
    if role is None:
        role = role_of(actor, project)
    if permission not in permissions_of(role):
        if role is None:
            raise Denied(f"{actor} is not a member of {project.slug}.", code="not_a_member")
        raise Denied(
            f"{actor} ({role}) may not {permission.value} {project.slug}.", code="role_insufficient"
        )
    return role or ""
