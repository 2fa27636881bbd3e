"""Gate answers kept for a few seconds, so pipelines polling the gate cost a cache read.

The gate is asked far more often than anything it depends on changes: CI polls it while runs
finish and approvers decide. Every change that can move the gate is audited with its project
(runs, results, approvals, waivers, locks, freezes, deployments, memberships), so each audit
event with a project gives that project a new *state* (a random value in the cache) once its
transaction commits; an answer is kept with the state it was computed in and used only while that
is still the project's state. What changes with time alone (a lock or waiver expiring, a freeze
window starting, approvals ageing) shows within PREFLIGHT_GATE_CACHE_SECONDS.

Starting a deployment never reads this: ``deployment_start`` evaluates the gate itself, under the
environment's row lock."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEvent

log = logging.getLogger(__name__)


def _state_key(project_id: int) -> str:
    return f"gate-state:{project_id}"


def _answer_key(project_id: int, version: str, environment: str) -> str:
    return f"gate-answer:{project_id}:{version}:{environment}"


def answer(
    project_id: int, version: str, environment: str, compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The gate's answer for (version, environment), from the cache if it is still current."""
    seconds = settings.PREFLIGHT_GATE_CACHE_SECONDS
    if not seconds:
        return compute()
    state_key, answer_key = _state_key(project_id), _answer_key(project_id, version, environment)
    try:
        found = cache.get_many([state_key, answer_key])
        state = found.get(state_key)
        if state is None:
            # No state yet (or evicted): start one. Answers are tagged with random states, so an
            # answer kept under a lost state can never match a new one.
            cache.add(state_key, uuid.uuid4().hex, timeout=None)
            state = cache.get(state_key)
        kept = found.get(answer_key)
        if kept is not None and kept[0] == state:
            return kept[1]
    except Exception:  # the cache is an optimisation: without it, compute
        log.warning("gate cache unavailable", exc_info=True)
        return compute()
    body = compute()  # the state was read before computing: a change meanwhile retires it
    try:
        cache.set(answer_key, (state, body), timeout=seconds)
    except Exception:
        log.warning("gate cache unavailable", exc_info=True)
    return body


def _new_state(project_id: int) -> None:
    try:
        cache.set(_state_key(project_id), uuid.uuid4().hex, timeout=None)
    except Exception:
        # The change is committed; answers kept before it expire within the cache timeout.
        log.warning("could not retire cached gate answers of project %s", project_id, exc_info=True)


@receiver(post_save, sender=AuditEvent, dispatch_uid="gate-cache-new-state")
def _on_audit_event(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    if created and instance.project_id is not None:
        transaction.on_commit(partial(_new_state, instance.project_id))
