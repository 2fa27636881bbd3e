"""Announcing that a gate opened. The gate is computed, not stored, so the last answer given for
each (release, environment) is kept to tell an opening from a gate that was already open."""

from __future__ import annotations

from django.db import transaction

from core import locking
from releases import webhooks
from releases.models import Environment, Release

from .gate import evaluate_gate
from .models import GateState


def announce_if_opened(release_id: int, environment_id: int) -> bool:
    """Re-evaluate the gate after something that can open it (a run finished, an approval, a
    tick, a waiver, an unlock); emit ``gate.opened`` when it goes from shut to open."""
    release = Release.objects.select_related("project").get(pk=release_id)
    environment = Environment.objects.get(pk=environment_id)
    decision = evaluate_gate(release, environment)
    with transaction.atomic():
        state, _ = locking.rows(GateState.objects.all()).get_or_create(
            release=release, environment=environment, defaults={"is_open": False}
        )
        opened = decision.allowed and not state.is_open
        if state.is_open != decision.allowed:
            state.is_open = decision.allowed
            state.save(update_fields=["is_open", "changed_at"])
        if opened:
            webhooks.emit(
                project=release.project_id,
                event="gate.opened",
                data={
                    "version": release.version,
                    "environment": environment.slug,
                    "score": decision.score,
                    "approvals": list(decision.approvals.granted),
                    "summary": f"{release.version} may go to {environment.name}.",
                },
            )
    return opened
