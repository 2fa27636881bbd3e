"""The API's documentation pages: Swagger UI and Redoc from drf-spectacular, with their assets
from drf-spectacular-sidecar (no CDN), under the same Content-Security-Policy as every page.

drf-spectacular's own templates put script and style inline; templates/api/ are the same pages
without them. Swagger UI's init script is served by the split view as a script of its own.

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


class SwaggerView(SpectacularSwaggerSplitView):
    template_name = "api/swagger.html"


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        policy: dict[str, Any] = dict(settings.SECURE_CSP)
        policy["style-src"] = [*policy["style-src"], CSP.NONCE, *REDOC_STYLE_HASHES]
        policy["img-src"] = [*policy["img-src"], REDOC_LOGO]
        # What django.views.decorators.csp.csp_override sets: the middleware sends this policy
        # instead of SECURE_CSP (read here, when the page is asked for, so it follows settings).
        response._csp_config = policy
        return response
