"""HTTP to Preflight's API with urllib: JSON in and out, a bearer token, and retries that are
safe because every POST carries one Idempotency-Key for all of its attempts.

A POST that timed out may have been carried out; sending it again with the same key makes the
server answer with the first result instead of doing it twice. A fresh key per attempt would
turn every network hiccup into a second release, report or deployment. The server keeps only
final answers: after a 5xx or a 429 nothing is kept and nothing was done, so the retry with the
same key is carried out; a 409 request_in_flight means the first attempt is still running, and
the retry after its Retry-After gets that attempt's answer."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .backoff import delays

API_PREFIX = "/api/v1"
# Answers that say "not now" rather than "no": worth the same request again.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The 409 meaning the first request with this Idempotency-Key is still being processed.
IN_FLIGHT_CODES = frozenset({"request_in_flight"})
RETRY_AFTER_CAP = 60.0


class UsageError(Exception):
    """Configuration the command cannot work with (no URL, no token, a strange scheme)."""


class Unavailable(Exception):
    """The server could not be reached, after every retry."""


class ApiError(Exception):
    """An error answer from the API: its status and the ``{code, detail, fields}`` body."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(self.one_line())

    @property
    def code(self) -> str:
        code = self.body.get("code") if isinstance(self.body, dict) else None
        return str(code) if code else f"http_{self.status}"

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict) and self.body.get("detail"):
            return str(self.body["detail"])
        if isinstance(self.body, str) and self.body.strip():
            return self.body.strip().splitlines()[0][:200]
        return http.client.responses.get(self.status, "Error")

    @property
    def fields(self) -> dict[str, str]:
        raw = self.body.get("fields") if isinstance(self.body, dict) else None
        return flatten_fields(raw) if isinstance(raw, dict) else {}

    def one_line(self) -> str:
        line = f"{self.status} {self.code}: {self.detail}"
        if self.fields:
            line += " (" + "; ".join(f"{k}: {v}" for k, v in self.fields.items()) + ")"
        return line


def flatten_fields(fields: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """DRF-style per-field errors ({"a": ["msg"], "b": {"c": ["msg"]}}) as {"a": "msg", "b.c": …}."""
    flat: dict[str, str] = {}
    for name, value in fields.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(flatten_fields(value, key + "."))
        elif isinstance(value, list | tuple):
            flat[key] = " ".join(str(v) for v in value)
        else:
            flat[key] = str(value)
    return flat


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def api_root(url: str) -> str:
    """PREFLIGHT_URL may name the site (https://preflight.example.com) or the API under it."""
    url = url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"PREFLIGHT_URL must be an http(s) address, not {url!r}.")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def path(*segments: str | int) -> str:
    """An API path from raw segments, each quoted: a version like ``1.0.0+build/7`` stays one."""
    return "/" + "/".join(urllib.parse.quote(str(s), safe="") for s in segments) + "/"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not instructions: following one would send the bearer token to
    whatever host it names, and would turn a POST into a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _redirect_error(response: Response) -> ApiError:
    location = next((v for k, v in response.headers.items() if k.lower() == "location"), "")
    return ApiError(
        response.status,
        {
            "code": "redirected",
            "detail": f"Preflight answered with a redirect to {location or 'elsewhere'}; "
            "set PREFLIGHT_URL to the address Preflight is served at.",
        },
    )


class Client:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
        retry_initial: float = 0.5,
        retry_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        if not url:
            raise UsageError("No address: set PREFLIGHT_URL or pass --url.")
        if not token:
            raise UsageError("No token: set PREFLIGHT_TOKEN or pass --token.")
        if attempts < 1:
            raise UsageError("--retries must be 0 or more.")
        self.root = api_root(url)
        self.token = token
        self.timeout = timeout
        self.attempts = attempts
        self.retry_initial = retry_initial
        self.retry_cap = retry_cap
        self.sleep = sleep
        self.on_retry = on_retry or (lambda _message: None)

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Response:
        url = self.root + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return self._send("GET", url, None, {})

    def post(self, path: str, body: Mapping[str, Any], *, idempotency_key: str = "") -> Response:
        """POST ``body``; retried with the same Idempotency-Key until it gets an answer."""
        key = idempotency_key or str(uuid.uuid4())
        data = json.dumps(body).encode()
        return self._send(
            "POST",
            self.root + path,
            data,
            {"Content-Type": "application/json", "Idempotency-Key": key},
        )

    def _send(
        self, method: str, url: str, data: bytes | None, headers: Mapping[str, str]
    ) -> Response:
        waits: Iterator[float] = delays(self.retry_initial, cap=self.retry_cap)
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = self._once(method, url, data, headers)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if last:
                    raise Unavailable(
                        f"{method} {url} failed after {attempt} attempt(s): {reason}"
                    ) from exc
                wait = next(waits)
                self.on_retry(f"{method} {url}: {reason}; retrying in {wait:.1f}s")
                self.sleep(wait)
                continue
            if 300 <= response.status < 400:
                raise _redirect_error(response)
            if response.status < 400:
                return response
            error = ApiError(response.status, response.body)
            if last or not _retryable(error):
                raise error
            wait = next(waits)
            retry_after = _retry_after(response.headers)
            if retry_after is not None:
                wait = max(wait, retry_after)
            self.on_retry(f"{method} {url}: {error.one_line()}; retrying in {wait:.1f}s")
            self.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _once(
        self, method: str, url: str, data: bytes | None, headers: Mapping[str, str]
    ) -> Response:
        request = urllib.request.Request(  # noqa: S310 - api_root allows http(s) only
            url,
            data=data,
            method=method,
            headers={
                "Accept": "application/json",
                "Authorization": f"Bearer {self.token}",
                "User-Agent": f"preflight-client/{__version__}",
                **headers,
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as reply:
                return Response(reply.status, _decode(reply.read()), dict(reply.headers))
        except urllib.error.HTTPError as reply:
            with reply:
                return Response(reply.code, _decode(reply.read()), dict(reply.headers))


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text  # a proxy's HTML error page: ApiError keeps its first line


def _retryable(error: ApiError) -> bool:
    if error.status in RETRY_STATUSES:
        return True
    return error.status == 409 and error.code in IN_FLIGHT_CODES


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return min(float(value), RETRY_AFTER_CAP) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the backoff alone will do
