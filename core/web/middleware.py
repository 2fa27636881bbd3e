from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponseBase
from django_htmx.http import HttpResponseClientRedirect

# These answer machines and authenticate themselves (bearer tokens) or not at all (probes).
EXEMPT_PREFIXES = ("/health/", "/api/")
# /metrics checks its own bearer token; only that exact path, nothing under or beside it.
EXEMPT_PATHS = frozenset({"/metrics"})


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Every page needs a signed-in user, except the API, the health probes and /metrics."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Any,
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponseBase | None:
        if request.path_info.startswith(EXEMPT_PREFIXES) or request.path_info in EXEMPT_PATHS:
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

    # The stubs promise a redirect; for HTMX a client redirect (a 200 with HX-Redirect) is right.
    def handle_no_permission(self, request: HttpRequest, view_func: Any) -> HttpResponseBase:  # type: ignore[override]
        response = super().handle_no_permission(request, view_func)
        if getattr(request, "htmx", False):
            # A session that ended under an open page: send the whole window to the login
            # page, rather than the login form into a fragment of the page.
            return HttpResponseClientRedirect(response["Location"])
        return response
