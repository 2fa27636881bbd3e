"""The gate endpoint's answers as the API sends them, from the gate's decisions: what the view
answers a poll with and what the gate cache (``api.gate_cache``) computes again after a
change, so both say the same."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from checks.gate import GateDecision, evaluate_gates
from releases.models import Environment, Release


def gate_bodies(
    project_id: int, asked: Collection[tuple[str, str]]
) -> dict[tuple[str, str], tuple[dict[str, Any], datetime | None]]:
    """``gate_body`` of several (version, environment slug) pairs of one project, in the
    queries of one (``evaluate_gates``): what the gate cache refreshes after a change. Pairs
    naming no release or environment are left out (their answer is a 404, never kept)."""
    releases = {
        r.version: r
        for r in Release.objects.filter(project_id=project_id, version__in={v for v, _ in asked})
    }
    environments = {
        e.slug: e
        for e in Environment.objects.filter(project_id=project_id, slug__in={s for _, s in asked})
    }
    pairs = {
        (version, slug): (releases[version].pk, environments[slug].pk)
        for version, slug in asked
        if version in releases and slug in environments
    }
    gates = evaluate_gates(
        list(releases.values()), list(environments.values()), only=pairs.values()
    )
    return {asked_pair: body_of(gates[ids]) for asked_pair, ids in pairs.items()}


def body_of(gate: GateDecision) -> tuple[dict[str, Any], datetime | None]:
    """The endpoint's answer for a decision, and when time alone next changes it (a waiver or
    an approval running out)."""
    body = {
        "allowed": gate.allowed,  # first: GateView reads the outcome from the answer's start
        "score": gate.score,
        "min_score": gate.min_score,
        "blockers": [
            {
                "check": b.check.code,
                "title": b.check.title,
                "severity": b.severity,
                "status": b.status,
            }
            for b in gate.blockers
        ],
        "approvals": {
            "required": gate.approvals.required,
            "granted": len(gate.approvals.granted),
            "rejected": len(gate.approvals.rejected),
        },
        "reasons": [r.as_dict() for r in gate.reasons],
    }
    return body, gate.changes_at
