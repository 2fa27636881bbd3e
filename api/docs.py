"""The API's documentation pages: Swagger UI and Redoc from drf-spectacular, with their assets
from drf-spectacular-sidecar (no CDN), under the same Content-Security-Policy as every page.

drf-spectacular's own templates put script and style inline; templates/api/ are the same pages
without them. Swagger UI's init script is served by the split view as a script of its own.
Both pages allow data: images, which they draw their icons with.

Redoc needs more, and only its page allows it. It builds its stylesheet in the browser:
styled-components adds <style> elements, let in by the response's nonce (static/js/redoc-init.js
hands it to Redoc), and while the bundle loads, before Redoc can be given the nonce, it adds
perfect-scrollbar's rules as a <style> of its own, let in by its hash. Its sidebar shows
Redocly's logo from their CDN, let in from that one address. Its search would run in a worker
made from a blob: URL, which stays refused: redoc-init.js turns search off."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.csp import CSP
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

# Both draw icons as data: images (Swagger UI in its stylesheet, Redoc from its script).
ICONS = "data:"
# The <style> redoc.standalone.js (drf-spectacular-sidecar) adds as it loads: empty at first,
# then perfect-scrollbar's rules. A new Redoc adding other rules is refused, and the browser test
# of every page (tests/web/browser/test_csp.py) fails naming the hash it would need.
REDOC_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
]
# Redoc's sidebar ends with "API docs by Redocly" and their logo, fetched from their CDN by a URL
# in the bundle; no option turns it off. That one image is let in, from that one address.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _widened(response: Response, **more: list[str]) -> Response:
    """The response with SECURE_CSP plus ``more`` sources per directive (style_src: style-src).

    Sets what django.views.decorators.csp.csp_override sets, so the middleware sends this
    policy instead; read per request, so it follows the settings."""
    policy: dict[str, Any] = dict(settings.SECURE_CSP)
    for name, sources in more.items():
        directive = name.replace("_", "-")
        policy[directive] = [*policy.get(directive, policy["default-src"]), *sources]
    response._csp_config = policy  # type: ignore[attr-defined]
    return response


class SwaggerView(SpectacularSwaggerSplitView):
    template_name = "api/swagger.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _widened(super().get(request, *args, **kwargs), img_src=[ICONS])


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _widened(
            super().get(request, *args, **kwargs),
            style_src=[CSP.NONCE, *REDOC_STYLE_HASHES],
            img_src=[ICONS, REDOC_LOGO],
        )
