"""``Idempotency-Key`` on POSTs, after the intent of the IETF draft (draft-ietf-httpapi-
idempotency-key-header) and PRODUCT.md: a repeat with the same key and body replays the first
answer when that answer was final for the request, and is evaluated afresh when the first answer
reflected a condition of the moment (``kept``). The same key with another body gets 422; a repeat
while the first is still running gets 409 with Retry-After. Keys are kept at least 24 hours
(``releases.tasks.purge_idempotency_keys``).

The request's work and its stored answer are one transaction, so an answer is stored exactly when
what it reports has committed, and a request that fails in any way — an exception, a 5xx, a
dropped database connection, a killed worker — leaves nothing behind: no half-done work and no
claimed key. While the request runs, a transaction-scoped advisory lock on (principal, key) tells
a concurrent repeat that it is in flight, without waiting for it (PostgreSQL). SQLite has no such
lock; its writers queue on the database's own lock, so a repeat there waits and gets the first
answer."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpResponse, HttpResponseBase, QueryDict
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import locking
from releases.models import IdempotencyKey

from .errors import error_body
from .principals import principal_of

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
IN_FLIGHT_RETRY_AFTER_SECONDS = 1
# Conflicts no retry can resolve: the version names another commit; the deployment already
# ended the other way. Every other 409 (busy, locked, frozen, not the latest…) may pass.
FINAL_CONFLICTS = frozenset({"version_conflict", "invalid_transition"})


def kept(status: int, code: str | None = None) -> bool:
    """Whether an answer is final for its request — stored and replayed to a repeat — or
    reflects a condition of the moment, so that a repeat is evaluated afresh.

    Final: the operation ran (2xx), the request itself is wrong (400, 422), or a conflict no retry
    resolves. Of the moment: authentication and roles (401, 403), what exists (404), a busy,
    locked or frozen environment and a request in flight (409), a closed gate (412), the size
    limit (413), throttling (429) and any failure on our side (5xx)."""
    if 200 <= status < 300 or status in (400, 422):
        return True
    return status == 409 and code in FINAL_CONFLICTS


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.encode() + b"\n" + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def canonical_json(data: Any) -> bytes:
    """One spelling of a JSON document: the same members in any order, with any whitespace,
    fingerprint the same."""
    if isinstance(data, QueryDict):
        data = dict(data.lists())
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def idempotent(post: Callable[..., Response]) -> Callable[..., HttpResponseBase]:
    """Wrap an APIView's ``post`` (authentication and throttling have run by then)."""

    @functools.wraps(post)
    def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = request.headers.get(HEADER)
        if key is None:
            return post(view, request, *args, **kwargs)
        if not _KEY.match(key):
            return _problem(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.",
            )
        principal = principal_of(request)
        raw = request._request.body  # read before DRF parses it, so it stays readable here
        unreadable: APIException | None = None
        try:
            body = canonical_json(request.data)
        except APIException as exc:  # not JSON: answered below, and kept like any 400
            body, unreadable = raw, exc
        print_ = fingerprint(str(request.method), request.get_full_path(), body)

        with transaction.atomic():
            if not locking.idempotency_key_try(principal, key):
                return _problem(
                    409,
                    "request_in_flight",
                    f"A request with Idempotency-Key {key!r} is still being processed; "
                    "retry shortly.",
                    headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_SECONDS)},
                )
            stored = IdempotencyKey.objects.filter(principal=principal, key=key).first()
            if stored is not None:
                return _replay(stored) if stored.fingerprint == print_ else _reused(key)
            response = _answer(view, post, request, args, kwargs, unreadable)
            if response.status_code >= 500 or transaction.get_rollback():
                transaction.set_rollback(True)  # nothing it did stays, and the key stays free
            elif kept(response.status_code, _code_of(response)):
                IdempotencyKey.objects.create(
                    principal=principal,
                    key=key,
                    fingerprint=print_,
                    method=str(request.method),
                    path=request.path[:500],
                    response_status=response.status_code,
                    # As rendered (compact JSON), so every replay answers the same bytes.
                    response_body=JSONRenderer().render(response.data).decode()
                    if response.data is not None
                    else "",
                )
        return response

    return wrapper


def _answer(
    view: APIView,
    post: Callable[..., Response],
    request: Request,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    unreadable: APIException | None,
) -> Response:
    """The view's answer, errors included: they are answered here, inside the transaction, so
    their status decides whether the key is kept. What the API's handler does not answer is
    re-raised by DRF and rolls the transaction back."""
    try:
        if unreadable is not None:
            raise unreadable
        return post(view, request, *args, **kwargs)
    except Exception as exc:
        return view.handle_exception(exc)


def _code_of(response: Response) -> str | None:
    data = response.data
    return data.get("code") if isinstance(data, dict) else None


def _replay(stored: IdempotencyKey) -> HttpResponse:
    replay = HttpResponse(
        stored.response_body, status=stored.response_status, content_type="application/json"
    )
    replay[REPLAYED_HEADER] = "true"
    return replay


def _reused(key: str) -> Response:
    return _problem(
        422,
        "idempotency_key_reused",
        f"Idempotency-Key {key!r} was used for a different request; use a new key.",
    )


def _problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(error_body(code, detail), status=status, headers=headers)
