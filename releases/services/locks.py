"""Locks and freeze windows, and what currently holds an environment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking, text
from core.errors import Conflict

from .. import webhooks
from ..access import Permission, require
from ..models import Deployment, DeploymentStatus, Environment, FreezeWindow, Lock


@dataclass(frozen=True)
class Hold:
    """Something that keeps every deployment out of an environment right now."""

    code: str  # deployment_in_progress | locked | frozen
    message: str
    holder: str = ""
    deployment_id: int | None = None


# Longer than a holiday season is a lock, which someone lifts, not a window that runs out.
MAX_FREEZE = timedelta(days=62)


def environment_holds(environment: Environment, now: datetime | None = None) -> list[Hold]:
    """Everything holding the environment: a deployment in progress, a lock, a freeze window."""
    return holds_of([environment], now)[environment.pk]


def holds_of(
    environments: Iterable[Environment], now: datetime | None = None
) -> dict[int, list[Hold]]:
    """``environment_holds`` of each environment (by id), in three queries however many
    environments (of however many projects) there are: a page showing many at once."""
    now = now or timezone.now()
    environments = list(environments)
    # Each kind's first row per environment, in the model's own order: the one a single
    # environment's ``.first()`` would pick.
    running: dict[int, Deployment] = {}
    for deployment in Deployment.objects.filter(
        environment__in=environments, status=DeploymentStatus.IN_PROGRESS
    ).select_related("release"):
        running.setdefault(deployment.environment_id, deployment)
    locks: dict[int, Lock] = {}
    for lock in Lock.objects.active(now).filter(environment__in=environments):
        locks.setdefault(lock.environment_id, lock)
    freezes: dict[int, FreezeWindow] = {}
    for freeze in FreezeWindow.objects.covering(now).filter(environment__in=environments):
        freezes.setdefault(freeze.environment_id, freeze)
    return {
        environment.pk: _holds(
            environment,
            running.get(environment.pk),
            locks.get(environment.pk),
            freezes.get(environment.pk),
        )
        for environment in environments
    }


def _holds(
    environment: Environment,
    running: Deployment | None,
    lock: Lock | None,
    freeze: FreezeWindow | None,
) -> list[Hold]:
    holds = []
    if running is not None:
        holds.append(
            Hold(
                code="deployment_in_progress",
                message=(
                    f"Deployment #{running.pk} of {running.release.version} is in progress "
                    f"in {environment.slug}."
                ),
                holder=f"deployment #{running.pk}",
                deployment_id=running.pk,
            )
        )
    if lock is not None:
        until = f" until {lock.expires_at:%Y-%m-%d %H:%M} UTC" if lock.expires_at else ""
        holds.append(
            Hold(
                code="locked",
                message=f"{environment.slug} is locked by {lock.owner_label}{until}: {lock.reason}",
                holder=lock.owner_label,
            )
        )
    if freeze is not None:
        holds.append(
            Hold(
                code="frozen",
                message=(
                    f"{environment.slug} is frozen until {freeze.ends_at:%Y-%m-%d %H:%M} UTC: "
                    f"{freeze.reason}"
                ),
                holder="freeze window",
            )
        )
    return holds


def lock_acquire(
    *,
    actor: Actor,
    environment: Environment,
    reason: str,
    expires_at: datetime | None = None,
    deployment: Deployment | None = None,
) -> Lock:
    """Lock an environment (admins), with a reason and an optional expiry."""
    reason = (reason or "").strip()
    project = environment.project
    with audit.refusals_recorded(
        actor=actor,
        action="lock.acquired",
        obj=environment,
        project_id=project.pk,
        attempted={"reason": reason},
    ):
        require(actor, project, Permission.MANAGE)
        if not reason:
            raise ValidationError({"reason": "Say why the environment is locked."})
        text.check_lengths(reason=(reason, text.REASON))
        now = timezone.now()
        if expires_at is not None and expires_at <= now:
            raise ValidationError({"expires_at": "The expiry must be in the future."})
        with transaction.atomic():
            locking.row(Environment, environment.pk)
            lock = lock_hold(
                actor, environment, reason, expires_at=expires_at, deployment=deployment
            )
            if lock is None:
                current = Lock.objects.get(environment=environment, released_at__isnull=True)
                raise Conflict(
                    f"{environment.slug} is already locked by {current.owner_label}: {current.reason}",
                    code="already_locked",
                )
    return lock


def lock_hold(
    actor: Actor,
    environment: Environment,
    reason: str,
    *,
    expires_at: datetime | None = None,
    deployment: Deployment | None = None,
) -> Lock | None:
    """Lock the environment and record it; None if it is already locked. The caller holds the
    environment's row lock and has checked the actor's right to do this."""
    now = timezone.now()
    _release_expired(environment, now)
    if Lock.objects.filter(environment=environment, released_at__isnull=True).exists():
        return None
    lock = Lock.objects.create(
        environment=environment,
        reason=reason,
        owner=actor.user,
        owner_token=actor.token,
        owner_label=actor.label,
        deployment=deployment,
        created_at=now,
        expires_at=expires_at,
    )
    audit.record(
        actor=actor,
        action="lock.acquired",
        obj=lock,
        project_id=environment.project_id,
        after={"environment": environment.slug, "reason": reason, "expires_at": expires_at},
    )
    _lock_changed(lock, locked=True)
    return lock


def _lock_changed(lock: Lock, *, locked: bool) -> None:
    webhooks.emit(
        project=lock.environment.project_id,
        event="lock.changed",
        data={
            "environment": lock.environment.slug,
            "status": "locked" if locked else "unlocked",
            "reason": lock.reason,
            "by": lock.owner_label if locked else lock.released_by_label,
            "expires_at": lock.expires_at,
        },
    )


def lock_release(*, actor: Actor, environment: Environment) -> Lock:
    project = environment.project
    with audit.refusals_recorded(
        actor=actor, action="lock.released", obj=environment, project_id=project.pk
    ):
        require(actor, project, Permission.MANAGE)
        with transaction.atomic():
            locking.row(Environment, environment.pk)
            lock = Lock.objects.active().filter(environment=environment).first()
            if lock is None:
                raise Conflict(f"{environment.slug} is not locked.", code="not_locked")
            lock.released_at = timezone.now()
            lock.released_by_label = actor.label
            lock.save(update_fields=["released_at", "released_by_label"])
            audit.record(
                actor=actor,
                action="lock.released",
                obj=lock,
                project_id=project.pk,
                before={"reason": lock.reason, "owner": lock.owner_label},
            )
            _lock_changed(lock, locked=False)
    return lock


def _release_expired(environment: Environment, now: datetime) -> None:
    for lock in Lock.objects.filter(
        environment=environment, released_at__isnull=True, expires_at__lte=now
    ):
        _mark_expired(lock, now)


def _mark_expired(lock: Lock, now: datetime) -> bool:
    """Record the lock's expiry unless it was released meanwhile (by the beat task or a
    person): an expiry is recorded once."""
    marked = Lock.objects.filter(pk=lock.pk, released_at__isnull=True).update(
        released_at=now, released_by_label="expiry"
    )
    if not marked:
        return False
    lock.released_at = now
    lock.released_by_label = "expiry"
    audit.record(
        actor=Actor.of_system("lock-expiry"),
        action="lock.expired",
        obj=lock,
        project_id=lock.environment.project_id,
        before={"reason": lock.reason, "owner": lock.owner_label, "expires_at": lock.expires_at},
    )
    _lock_changed(lock, locked=False)
    return True


def locks_expire(now: datetime | None = None) -> int:
    """Mark locks past their expiry as released (they already stopped holding; this records it)."""
    now = now or timezone.now()
    expired = 0
    for lock_id, environment_id in Lock.objects.filter(
        released_at__isnull=True, expires_at__lte=now
    ).values_list("pk", "environment_id"):
        with transaction.atomic():
            # The environment first, as lock_acquire and lock_release take it.
            locking.row(Environment, environment_id)
            lock = Lock.objects.select_related("environment").filter(pk=lock_id).first()
            if lock is not None and _mark_expired(lock, now):
                expired += 1
    return expired


def freeze_create(
    *, actor: Actor, environment: Environment, starts_at: datetime, ends_at: datetime, reason: str
) -> FreezeWindow:
    reason = (reason or "").strip()
    project = environment.project
    with audit.refusals_recorded(
        actor=actor, action="freeze.created", obj=environment, project_id=project.pk
    ):
        require(actor, project, Permission.MANAGE)
        freeze = FreezeWindow(
            environment=environment,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=actor.user,
        )
        # Before full_clean, whose constraint check would say the same thing less plainly.
        errors = {}
        if not reason:
            errors["reason"] = "Say why the environment is frozen."
        elif len(reason) > text.REASON:
            errors["reason"] = text.too_long_message(text.REASON, len(reason))
        if ends_at <= starts_at:
            errors["ends_at"] = "The freeze must end after it starts."
        elif ends_at <= timezone.now():
            # A window wholly in the past would hold nothing: it is a mistake, not a record.
            errors["ends_at"] = "The freeze must end in the future."
        elif ends_at - starts_at > MAX_FREEZE:
            errors["ends_at"] = f"A freeze window lasts at most {MAX_FREEZE.days} days."
        if errors:
            raise ValidationError(errors)
        freeze.full_clean()
        with transaction.atomic():
            freeze.save()
            audit.record(
                actor=actor,
                action="freeze.created",
                obj=freeze,
                project_id=project.pk,
                after={
                    "environment": environment.slug,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "reason": reason,
                },
            )
    return freeze


def freeze_delete(*, actor: Actor, freeze: FreezeWindow) -> None:
    environment = freeze.environment
    project = environment.project
    with audit.refusals_recorded(
        actor=actor, action="freeze.deleted", obj=freeze, project_id=project.pk
    ):
        require(actor, project, Permission.MANAGE)
        before = {
            "environment": environment.slug,
            "starts_at": freeze.starts_at,
            "ends_at": freeze.ends_at,
            "reason": freeze.reason,
        }
        freeze_id = freeze.pk
        with transaction.atomic():
            freeze.delete()
            freeze.pk = freeze_id  # so the event names the window it removed
            audit.record(
                actor=actor,
                action="freeze.deleted",
                obj=freeze,
                project_id=project.pk,
                before=before,
            )
