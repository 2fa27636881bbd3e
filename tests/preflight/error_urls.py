"""Preflight's URLconf plus views that fail in the ways Django answers by itself, under /api/
(where the API's error body is due) and on pages; for tests/preflight/test_error_views.py."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET
from rest_framework.request import Request
from rest_framework.views import APIView

from preflight.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


@require_GET
def get_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def form(request: HttpRequest) -> HttpResponse:  # not csrf_exempt: the middleware checks it
    return HttpResponse("accepted")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("That report is gone.")


def denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("Admins only.")


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("odd")


class SuspiciousApiView(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def post(self, request: Request) -> HttpResponse:
        if request.query_params.get("what") == "too-big":
            raise RequestDataTooBig("too big")
        raise SuspiciousOperation("odd")


def _both(name: str, view) -> list:  # type: ignore[no-untyped-def]
    return [path(f"api/v1/test/{name}/", view), path(f"test/{name}/", view)]


urlpatterns = [
    *_both("get-only", get_only),
    *_both("form", form),
    *_both("boom", boom),
    *_both("missing", missing),
    *_both("denied", denied),
    *_both("suspicious", suspicious),
    path("api/v1/test/drf-suspicious/", SuspiciousApiView.as_view()),
    *urlpatterns,
]
