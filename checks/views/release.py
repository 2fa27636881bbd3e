from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from preflight.web.access import project_for


@require_GET
def release_page(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    access = project_for(request, slug)
    return TemplateResponse(request, "base.html", {"project": access.project})
