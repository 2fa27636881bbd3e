"""The documentation in docs/, served as it is in the repository (plain text), so a page can
link to the part of the docs that explains it (the backups page's "drills need PostgreSQL")."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

NAME = re.compile(r"^[a-z0-9-]+\.md$")


@require_GET
def doc(request: HttpRequest, name: str) -> HttpResponse:
    if not NAME.match(name):
        raise Http404("No such document.")
    path = settings.BASE_DIR / "docs" / name
    try:
        body = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Http404("No such document.") from None
    return HttpResponse(body, content_type="text/plain; charset=utf-8")
