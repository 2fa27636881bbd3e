"""Finding what a request names. A project the caller has no role in is answered like one that
does not exist (404), so outsiders cannot probe for project names."""

from __future__ import annotations

from rest_framework.request import Request

from audit.actors import Actor
from checks.models import Check
from core.errors import NotFound
from releases.access import Permission, require, role_of
from releases.models import Environment, Project, Release

from .authentication import actor_of


def _missing(what: str, field: str | None = None) -> NotFound:
    if field:
        return NotFound(f"{what} does not exist.", fields={field: [f"{what} does not exist."]})
    return NotFound(f"{what} does not exist.")


def _project_and_role(request: Request, slug: str) -> tuple[Project, Actor, str]:
    actor = actor_of(request)
    token = actor.token
    if token is not None and token.is_service and token.project.slug == slug:
        project = token.project  # loaded with the token: no query
    else:
        project = Project.objects.filter(slug=slug).first()
    role = role_of(actor, project) if project is not None else None
    if project is None or role is None:
        raise _missing(f"Project {slug!r}")
    return project, actor, role


def project_for(request: Request, slug: str) -> tuple[Project, Actor]:
    """The project and the caller, for a service that checks the caller's permission itself."""
    project, actor, _ = _project_and_role(request, slug)
    return project, actor


def readable_project(request: Request, slug: str) -> tuple[Project, Actor]:
    project, actor, role = _project_and_role(request, slug)
    require(actor, project, Permission.VIEW, role=role)
    return project, actor


def member_of(request: Request, project: Project, permission: Permission | None = None) -> Actor:
    """For objects found by id: the caller must have a role in the object's project (else 404)
    and, when ``permission`` is given, a role that allows it (else 403)."""
    actor = actor_of(request)
    role = role_of(actor, project)
    if role is None:
        raise NotFound("Not found.")
    if permission is not None:
        require(actor, project, permission, role=role)
    return actor


def release_of(project: Project, version: str, *, field: str | None = None) -> Release:
    release = Release.objects.filter(project=project, version=version).first()
    if release is None:
        raise _missing(f"Release {version!r} of {project.slug}", field)
    release.project = project
    return release


def environment_of(
    project: Project, slug: str, *, field: str | None = "environment"
) -> Environment:
    environment = Environment.objects.filter(project=project, slug=slug).first()
    if environment is None:
        raise _missing(f"Environment {slug!r} of {project.slug}", field)
    environment.project = project
    return environment


def check_of(project: Project, code: str) -> Check:
    check = Check.objects.filter(project=project, code=code).first()
    if check is None:
        raise _missing(f"Check {code!r} of {project.slug}", "check")
    return check
