from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponseBase

# These answer machines and authenticate themselves (bearer tokens) or not at all (probes).
EXEMPT_PREFIXES = ("/health/", "/api/")


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Every page needs a signed-in user, except the API and the health probes."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Any,
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponseBase | None:
        if request.path_info.startswith(EXEMPT_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
