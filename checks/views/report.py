"""The readiness review of a release for an environment, as a page inside the layout (printable:
the print stylesheet leaves only the document) and as a Markdown download. Both come from one
``checks.report.build_report``, so the page, the download and the command line always agree."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from releases.page_access import project_for

from ..report import build_report, render_markdown
from .page import load_release

FORMATS = ("html", "markdown")


@require_GET
def report_page(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    access = project_for(request, slug)
    release, environment = load_release(access, version, env_slug)
    fmt = request.GET.get("format") or "html"
    if fmt not in FORMATS:
        return HttpResponse(
            f"Unknown format {fmt!r}: ask for html or markdown.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    report = build_report(release, environment)
    if fmt == "markdown":
        response = HttpResponse(
            render_markdown(report), content_type="text/markdown; charset=utf-8"
        )
        name = f"{access.project.slug}-{release.version}-{environment.slug}-readiness.md"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return TemplateResponse(
        request,
        "checks/report_page.html",
        {
            "project": access.project,
            "access": access,
            "report": report,
            "release": release,
            "environment": environment,
            "back_url": reverse("release", args=[slug, version, env_slug]),
        },
    )
