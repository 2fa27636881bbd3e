"""The release page's migration rehearsals: each as a drill is shown, per migration its time and
outcome. One query, whatever the number of rehearsals and migrations."""

from __future__ import annotations

from typing import Any

from django import template

from ..models import MigrationRehearsal, ReadinessRun
from ..rehearsal.verdicts import seconds

register = template.Library()

BADGES = {"passed": "pass", "failed": "fail", "error": "error", "running": "running"}
STEP_BADGES = {
    "applied": "pass",
    "rolled_back": "pass",
    "failed": "fail",
    "missing": "fail",
    "not_run": "pending",
}
STEP_WORDS = {
    "applied": "applied",
    "rolled_back": "rolled back",
    "failed": "failed",
    "missing": "no rollback SQL",
    "not_run": "not run",
}


def _step(step: dict[str, Any]) -> dict[str, Any]:
    status = str(step.get("status", "not_run"))
    return {
        **step,
        "badge": STEP_BADGES.get(status, "pending"),
        "words": STEP_WORDS.get(status, status),
        "time": seconds(step["seconds"]) if "seconds" in step else "—",
    }


def panel(rehearsal: MigrationRehearsal) -> dict[str, Any]:
    return {
        "rehearsal": rehearsal,
        "badge": BADGES.get(rehearsal.status, rehearsal.status),
        "restore": seconds(rehearsal.restore_seconds),
        "migrate": seconds(rehearsal.migrate_seconds),
        "rollback": seconds(rehearsal.rollback_seconds),
        "total": seconds(rehearsal.total_seconds),
        "scratch_mb": None
        if rehearsal.scratch_bytes is None
        else round(rehearsal.scratch_bytes / 2**20),
        "migrations": [
            {**_step(m), "rollback": _step(m.get("rollback") or {})} for m in rehearsal.migrations
        ],
        "failed_assertions": [a for a in rehearsal.assertions if not a.get("passed")],
    }


@register.inclusion_tag("checks/_rehearsal_panel.html")
def rehearsal_panel(run: ReadinessRun | None) -> dict[str, Any]:
    if run is None:
        return {"rehearsals": []}
    rehearsals = MigrationRehearsal.objects.filter(run=run).select_related("database", "backup")
    return {"rehearsals": [panel(r) for r in rehearsals.order_by("database__name")]}
