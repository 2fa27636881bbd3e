"""What every operation documents besides its success: the error answers it can give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from .serializers import ConflictSerializer, ErrorSerializer, GateClosedSerializer

_ERRORS = {
    400: "Invalid input; `fields` holds the messages per field. Malformed requests are 400 too: "
    "`parse_error` for a body that is not I-JSON (see docs/api.md), `malformed_request` for NUL "
    "bytes or invalid UTF-8 in the query string.",
    401: "No token, or a token that is unknown, expired or revoked (WWW-Authenticate: Bearer).",
    403: "Your role in the project may not do this.",
    404: "Unknown project (or not a member of it), release, environment, check or object.",
    409: "Conflict with the current state.",
    412: "The gate is closed; `reasons` lists every reason.",
    413: "The body is larger than the server accepts (PREFLIGHT_MAX_REQUEST_BYTES, 1 MiB).",
    415: "Send JSON (Content-Type: application/json).",
    422: "The Idempotency-Key was used for a different request.",
    429: "Too many requests; retry after Retry-After seconds.",
}
READ_ERRORS = (400, 401, 403, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Repeat a POST safely: the same key and body replay the first answer when it was final "
        "(2xx, 400, 422, a conflict no retry resolves); after an answer of the moment (401, 403, "
        "404, 409 busy, 412, 413, 429, 5xx) the repeat is evaluated afresh. The same key with "
        "another body gets 422; a repeat while the first is in flight gets 409 with Retry-After."
    ),
)


def responses(
    success: dict[int, Any], errors: tuple[int, ...], **descriptions: str
) -> dict[int, Any]:
    """``success`` plus the error bodies for ``errors``; 409 and 412 carry their extra fields."""
    answers: dict[int, Any] = dict(success)
    for status in errors:
        serializer: Any = ErrorSerializer
        if status == 409:
            serializer = ConflictSerializer
        elif status == 412:
            serializer = GateClosedSerializer
        answers[status] = OpenApiResponse(
            serializer, description=descriptions.get(f"e{status}", _ERRORS[status])
        )
    return answers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py issue_token` (user or service).",
        }
