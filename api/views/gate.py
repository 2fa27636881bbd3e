"""The gate: may this release go to this environment now? Answered by ``checks.gate``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from checks.gate import evaluate_gate
from core import metrics
from releases.models import Project
from releases.models.projects import SLUG_PATTERN

from .. import gate_cache
from ..authentication import project_gate_state
from ..gate_answers import body_of
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
    return body_of(evaluate_gate(release, environment, sources=False))
