"""``Idempotency-Key`` on POSTs (PRODUCT.md): a repeat with the same key and body replays the
first answer (same status and body); the same key with another body gets 422; a repeat while the
first is still in flight gets 409. Keys are kept at least 24 hours
(``releases.tasks.purge_idempotency_keys``).

The request claims its key by inserting a row: the unique constraint on (principal, key) lets
exactly one of any number of concurrent duplicates in, and the others find its row."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from releases.models import IdempotencyKey

from .authentication import principal_of
from .errors import error_body

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
# A claim still in flight after this long belongs to a request that died (a killed worker):
# the key is given to the next attempt instead of answering 409 until it is purged.
ABANDONED_AFTER = timedelta(minutes=5)
REPLAYED_HEADER = "Idempotent-Replayed"


def fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(str(request.method).encode() + b"\n" + request.get_full_path().encode() + b"\n")
    digest.update(request._request.body)
    return digest.hexdigest()


def _problem(status: int, code: str, detail: str) -> Response:
    return Response(error_body(code, detail), status=status)


def _claim(
    principal: str, key: str, print_: str, request: Request
) -> IdempotencyKey | HttpResponse:
    """Our fresh claim, or the answer to give instead of running the view."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                principal=principal,
                key=key,
                fingerprint=print_,
                method=str(request.method),
                path=request.path[:500],
            )
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.filter(principal=principal, key=key).first()
    if existing is None:  # purged between our insert and our read: try once more
        return _claim(principal, key, print_, request)
    if existing.fingerprint != print_:
        return _problem(
            422,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was used for a different request; use a new key.",
        )
    if existing.state == IdempotencyKey.State.DONE:
        replay = HttpResponse(
            existing.response_body,
            status=existing.response_status,
            content_type="application/json",
        )
        replay[REPLAYED_HEADER] = "true"
        return replay
    # Still in flight: take it over only if its request died long ago (compare-and-swap).
    stale = timezone.now() - ABANDONED_AFTER
    taken = IdempotencyKey.objects.filter(
        Q(created_at__lt=stale), pk=existing.pk, state=IdempotencyKey.State.IN_FLIGHT
    ).update(created_at=timezone.now())
    if taken:
        existing.refresh_from_db()
        return existing
    return _problem(
        409,
        "request_in_flight",
        f"A request with Idempotency-Key {key!r} is still being processed; retry shortly.",
    )


def idempotent(
    post: Callable[..., Response],
) -> Callable[..., HttpResponse]:
    """Wrap an APIView's ``post`` (authentication and throttling have run by then)."""

    @functools.wraps(post)
    def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None:
            return post(view, request, *args, **kwargs)
        if not _KEY.match(key):
            return _problem(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.",
            )
        claimed = _claim(principal_of(request), key, fingerprint(request), request)
        if isinstance(claimed, HttpResponse):
            return claimed
        try:
            response = post(view, request, *args, **kwargs)
        except Exception as exc:
            # handle_exception re-raises what the API's handler does not answer; the key is
            # given back then, so a retry may run.
            try:
                response = view.handle_exception(exc)
            except Exception:
                IdempotencyKey.objects.filter(pk=claimed.pk).delete()
                raise
        if response.status_code >= 500:
            IdempotencyKey.objects.filter(pk=claimed.pk).delete()
            return response
        # Store the body as rendered (compact JSON), so every replay answers the same bytes.
        body = JSONRenderer().render(response.data).decode() if response.data is not None else ""
        IdempotencyKey.objects.filter(pk=claimed.pk).update(
            state=IdempotencyKey.State.DONE,
            response_status=response.status_code,
            response_body=body,
            completed_at=timezone.now(),
        )
        return response

    return wrapper
