from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from core import locking

from ..access import Permission, require
from ..models import Environment, Membership, Project, Role

ENVIRONMENT_SETTINGS = (
    "name",
    "position",
    "min_score",
    "required_approvals",
    "requires_previous",
    "deploy_timeout",
    "auto_rollback",
    "approval_ttl",
)


def project_create(*, actor: Actor, slug: str, name: str, description: str = "") -> Project:
    """Create a project. Only operators (the command line, Django admin) create projects, so
    there is no project role to check yet."""
    project = Project(slug=slug, name=name, description=description)
    project.full_clean()
    with transaction.atomic():
        project.save()
        audit.record(
            actor=actor,
            action="project.created",
            obj=project,
            project_id=project.pk,
            after=audit.snapshot(project, ("slug", "name", "description")),
        )
    return project


def member_set(
    *, actor: Actor, project: Project, user: User, role: str, check_access: bool = True
) -> Membership:
    """Give ``user`` the role in ``project`` (adding them, or changing their role).

    ``check_access=False`` is for operators at the command line, who act outside any project."""
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of {', '.join(Role.values)}."})
    with audit.refusals_recorded(
        actor=actor, action="membership.set", obj=project, project_id=project.pk
    ):
        if check_access:
            require(actor, project, Permission.MANAGE)
        with transaction.atomic():
            membership = locking.rows(Membership.objects.filter(project=project, user=user)).first()
            before = {"role": membership.role} if membership else None
            if membership is None:
                membership = Membership.objects.create(project=project, user=user, role=role)
            elif membership.role != role:
                membership.role = role
                membership.save(update_fields=["role"])
            audit.record(
                actor=actor,
                action="membership.set",
                obj=membership,
                project_id=project.pk,
                before=before,
                after={"user": user.get_username(), "role": role},
            )
    return membership


def user_get_or_create(*, username: str, password: str | None) -> tuple[Any, bool]:
    """The user named ``username``, created if missing. A new user without a password cannot log
    in until one is set."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user, False
    user = User(username=username)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user, True


def environment_create(
    *, actor: Actor, project: Project, slug: str, **settings: Any
) -> Environment:
    unknown = set(settings) - set(ENVIRONMENT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown environment settings: {', '.join(sorted(unknown))}")
    if "position" not in settings:
        last = project.environments.order_by("-position").values_list("position", flat=True).first()
        settings["position"] = 0 if last is None else last + 1
    settings.setdefault("name", slug.capitalize())
    environment = Environment(project=project, slug=slug, **settings)
    environment.full_clean()
    with transaction.atomic():
        environment.save()
        audit.record(
            actor=actor,
            action="environment.created",
            obj=environment,
            project_id=project.pk,
            after=audit.snapshot(environment, ("slug", *ENVIRONMENT_SETTINGS)),
        )
    return environment


def environment_update(*, actor: Actor, environment: Environment, **changes: Any) -> Environment:
    unknown = set(changes) - set(ENVIRONMENT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown environment settings: {', '.join(sorted(unknown))}")
    project = environment.project
    with audit.refusals_recorded(
        actor=actor, action="environment.updated", obj=environment, project_id=project.pk
    ):
        require(actor, project, Permission.MANAGE)
        with transaction.atomic():
            environment = locking.row(Environment, environment.pk)
            before = audit.snapshot(environment, tuple(changes))
            for name, value in changes.items():
                setattr(environment, name, value)
            environment.full_clean()
            environment.save(update_fields=list(changes))
            audit.record(
                actor=actor,
                action="environment.updated",
                obj=environment,
                project_id=project.pk,
                before=before,
                after=audit.snapshot(environment, tuple(changes)),
            )
    return environment
