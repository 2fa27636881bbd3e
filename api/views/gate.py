"""The gate: may this release go to this environment now? Answered by ``checks.gate``."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from checks.gate import GateDecision, evaluate_gate, evaluate_gates
from core import metrics
from releases.models import Environment, Project, Release
from releases.models.projects import SLUG_PATTERN

from .. import gate_cache
from ..authentication import project_gate_state
from ..lookups import environment_of, readable_project, release_of
from ..schema import READ_ERRORS, responses
from ..serializers import GateQuery, GateSerializer, valid


class GateView(APIView):
    @extend_schema(
        operation_id="gate_read",
        summary="Ask the gate",
        parameters=[GateQuery],
        responses=responses({200: GateSerializer}, READ_ERRORS),
        description="`allowed` is true only when every rule holds; `reasons` lists every rule "
        "that fails, not just the first.",
    )
    def get(self, request: Request, project: str, version: str) -> HttpResponse:
        found, _ = readable_project(request, project)
        slug = request.query_params.get("environment", "")
        if not SLUG_PATTERN.fullmatch(slug):
            # Pipelines poll this endpoint: a well-formed slug skips the serializer, anything
            # else gets its answer (400 with the field's message, or 404 for no such slug).
            slug = valid(GateQuery, request.query_params)["environment"]
        body = gate_cache.answer(
            found.pk,
            version,
            slug,
            lambda: gate_body(found, version, slug),
            project_gate_state(request, found.pk),
        )
        # gate_body puts "allowed" first, so a kept answer tells its outcome without parsing.
        metrics.gate_answered(allowed=body.startswith('{"allowed":true'))
        # Kept as the JSON the renderer wrote, and sent as it is.
        return HttpResponse(body, content_type="application/json")


def gate_body(project: Project, version: str, slug: str) -> tuple[dict[str, Any], datetime | None]:
    """The answer, and when time alone next changes it (a waiver or an approval running out)."""
    release = release_of(project, version)
    environment = environment_of(project, slug)
    return _body(evaluate_gate(release, environment, sources=False))


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
    return {asked_pair: _body(gates[ids]) for asked_pair, ids in pairs.items()}


def _body(gate: GateDecision) -> tuple[dict[str, Any], datetime | None]:
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
