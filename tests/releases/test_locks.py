from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import Conflict, Denied
from releases.models import FreezeWindow, Lock
from releases.services.locks import (
    _mark_expired,
    environment_holds,
    freeze_create,
    freeze_delete,
    lock_acquire,
    lock_release,
    locks_expire,
)
from releases.tasks import expire_locks

from ..conftest import as_actor

pytestmark = pytest.mark.django_db


def test_an_admin_locks_and_unlocks(environments, admin):
    staging = environments["staging"]
    lock = lock_acquire(actor=as_actor(admin), environment=staging, reason="migrating the database")
    assert (lock.owner, lock.owner_label) == (admin, "root")
    assert [h.code for h in environment_holds(staging)] == ["locked"]
    lock_release(actor=as_actor(admin), environment=staging)
    assert environment_holds(staging) == []
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == [
        "lock.acquired",
        "lock.released",
    ]


@pytest.mark.parametrize("persona", ["approver", "deployer", "viewer"])
def test_only_admins_lock(environments, persona, request):
    with pytest.raises(Denied):
        lock_acquire(
            actor=as_actor(request.getfixturevalue(persona)),
            environment=environments["staging"],
            reason="x",
        )
    assert AuditEvent.objects.get().outcome == "denied"


def test_a_lock_needs_a_reason(environments, admin):
    with pytest.raises(ValidationError):
        lock_acquire(actor=as_actor(admin), environment=environments["staging"], reason="  ")


def test_an_environment_is_locked_once(environments, admin):
    lock_acquire(actor=as_actor(admin), environment=environments["staging"], reason="first")
    with pytest.raises(Conflict, match="already locked by root: first"):
        lock_acquire(actor=as_actor(admin), environment=environments["staging"], reason="second")


def test_unlocking_an_unlocked_environment_is_a_conflict(environments, admin):
    with pytest.raises(Conflict):
        lock_release(actor=as_actor(admin), environment=environments["staging"])


def test_an_expired_lock_stops_holding_and_is_recorded(environments, admin):
    staging = environments["staging"]
    lock = lock_acquire(
        actor=as_actor(admin),
        environment=staging,
        reason="short",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    later = timezone.now() + timedelta(minutes=6)
    assert environment_holds(staging, later) == []
    assert expire_locks() == 0  # not yet expired now
    assert locks_expire(later) == 1
    lock.refresh_from_db()
    assert lock.released_by_label == "expiry"
    assert AuditEvent.objects.filter(action="lock.expired", actor="system:lock-expiry").exists()


def test_an_expired_lock_makes_way_for_a_new_one(environments, admin):
    staging = environments["staging"]
    Lock.objects.create(
        environment=staging,
        reason="old",
        owner_label="root",
        created_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(hours=1),
    )
    assert lock_acquire(actor=as_actor(admin), environment=staging, reason="new").reason == "new"


def test_a_lock_expiry_must_be_in_the_future(environments, admin):
    with pytest.raises(ValidationError):
        lock_acquire(
            actor=as_actor(admin),
            environment=environments["staging"],
            reason="x",
            expires_at=timezone.now() - timedelta(minutes=1),
        )


def test_freeze_windows_hold_only_while_they_last(environments, admin):
    production = environments["production"]
    start = timezone.now() + timedelta(days=1)
    freeze = freeze_create(
        actor=as_actor(admin),
        environment=production,
        starts_at=start,
        ends_at=start + timedelta(days=2),
        reason="Black Friday",
    )
    assert environment_holds(production) == []
    [hold] = environment_holds(production, start + timedelta(hours=1))
    assert hold.code == "frozen"
    assert "Black Friday" in hold.message
    freeze_delete(actor=as_actor(admin), freeze=freeze)
    assert not FreezeWindow.objects.exists()
    deleted = AuditEvent.objects.get(action="freeze.deleted")
    assert deleted.object_id == str(freeze.pk)


def test_a_freeze_must_end_after_it_starts(environments, admin):
    now = timezone.now()
    with pytest.raises(ValidationError):
        freeze_create(
            actor=as_actor(admin),
            environment=environments["production"],
            starts_at=now,
            ends_at=now,
            reason="x",
        )
    assert not AuditEvent.objects.filter(outcome="success").exists()


def test_a_lock_released_while_it_expires_is_recorded_once(environments, admin):
    staging = environments["staging"]
    lock = Lock.objects.create(
        environment=staging,
        reason="old",
        owner_label="root",
        created_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(hours=1),
    )
    read_before = Lock.objects.get(pk=lock.pk)  # what a second expirer read before the first wrote
    assert locks_expire() == 1

    assert _mark_expired(read_before, timezone.now()) is False
    assert locks_expire() == 0
    assert AuditEvent.objects.filter(action="lock.expired").count() == 1
