from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from releases.models import Project


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The projects for the switcher: only those the user is a member of, fetched only when a
    page shows the switcher (one query)."""
    user = getattr(request, "user", None)

    def projects() -> list[Project]:
        if user is None or not user.is_authenticated:
            return []
        return list(Project.objects.filter(memberships__user=user).order_by("name"))

    return {"nav_projects": SimpleLazyObject(projects)}
