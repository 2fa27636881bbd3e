"""Choosing the renderer, without parsing an Accept header that accepts anything."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation parses the Accept header and matches it against every renderer on each
    request. CI clients mostly send none or ``*/*``, which choose the first renderer (as DRF
    would): that case costs nothing; every other header is negotiated by DRF."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if format_suffix is None and accept == "*/*" and not self._format_query(request):
            first = next(iter(renderers))
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)

    def _format_query(self, request: Request) -> bool:
        return self.settings.URL_FORMAT_OVERRIDE in request.query_params
