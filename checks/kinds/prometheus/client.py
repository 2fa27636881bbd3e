"""Prometheus's HTTP API (/api/v1/query, /api/v1/query_range), with the standard library as the
http kind uses it. The server's URL and bearer token come from environment variables the check
names; neither is stored, logged or put in a message (a URL may carry credentials), so every
message names the variable instead."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..base import reserved_env

MAX_ANSWER = 8 * 1024 * 1024
# Prometheus refuses a range query of more points than this per series.
MAX_POINTS = 11_000


class PrometheusError(Exception):
    """The check cannot run: its message is one line, safe to show and store."""


class Unreachable(PrometheusError):
    """The server itself is not there (or not usable): no objective can be measured."""


class QueryError(PrometheusError):
    """The server answered, but not with data for this query (a PromQL error, say)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to whatever host the Location names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value); NaN kept, the judge skips it


@dataclass(frozen=True)
class Server:
    base_url: str
    headers: Mapping[str, str]
    name: str  # how messages name the server: its variable
    secrets: tuple[str, ...]  # what must never appear in a message

    @classmethod
    def from_env(cls, url_env: str, token_env: str | None) -> Server:
        for variable in (url_env, token_env):
            if variable and reserved_env(variable):  # stored before the rule, or written around it
                raise Unreachable(f"{variable} is Preflight's own configuration.")
        raw = os.environ.get(url_env, "").strip()
        if not raw:
            raise Unreachable(
                f"The environment variable {url_env}, which names the Prometheus server, is not set."
            )
        try:
            parts = urllib.parse.urlsplit(raw)
            port = parts.port  # reading it validates it
        except ValueError:  # its message may quote the URL
            raise Unreachable(f"{url_env} must hold the Prometheus server's http(s) URL.") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unreachable(f"{url_env} must hold the Prometheus server's http(s) URL.")
        headers = {"Accept": "application/json", "User-Agent": "Preflight"}
        secrets = [raw]
        if parts.username or parts.password:
            # Credentials in the URL (https://user:pass@host) become Basic auth: urllib would
            # not send them, and they must not travel in the request line either.
            user = urllib.parse.unquote(parts.username or "")
            password = urllib.parse.unquote(parts.password or "")
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
            secrets += [s for s in (parts.username, parts.password, user, password) if s]
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            netloc = host + (f":{port}" if port else "")
            parts = parts._replace(netloc=netloc)
        if token_env:
            token = os.environ.get(token_env, "").strip()
            if not token:
                raise Unreachable(
                    f"The environment variable {token_env}, which holds the Prometheus token, is not set."
                )
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        base = urllib.parse.urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
        secrets.append(base)
        if parts.hostname:
            secrets.append(parts.hostname)
        return cls(base_url=base, headers=headers, name=url_env, secrets=tuple(secrets))

    # The API ---------------------------------------------------------------------------------

    def query_range(
        self, query: str, *, start: datetime, end: datetime, step: float, timeout: float
    ) -> list[Series]:
        data = self._post(
            "query_range",
            {
                "query": query,
                "start": f"{start.timestamp():.3f}",
                "end": f"{end.timestamp():.3f}",
                "step": f"{step:g}",
                "timeout": _seconds(timeout),
            },
            timeout,
        )
        if data.get("resultType") != "matrix":
            raise QueryError(
                f"the query answered a {data.get('resultType')}, not a range of values"
            )
        return [
            Series(labels=dict(item.get("metric", {})), points=[_point(p) for p in item["values"]])
            for item in data.get("result", [])
        ]

    def query(self, query: str, *, at: datetime, timeout: float) -> list[Series]:
        data = self._post(
            "query",
            {"query": query, "time": f"{at.timestamp():.3f}", "timeout": _seconds(timeout)},
            timeout,
        )
        kind = data.get("resultType")
        if kind == "scalar":
            return [Series(labels={}, points=[_point(data["result"])])]
        if kind != "vector":
            raise QueryError(f"the query answered a {kind}, not a number")
        return [
            Series(labels=dict(item.get("metric", {})), points=[_point(item["value"])])
            for item in data.get("result", [])
        ]

    def _post(self, endpoint: str, form: dict[str, str], timeout: float) -> dict[str, Any]:
        # POST keeps long queries out of request lines (and the logs of proxies in between).
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in from_env
            f"{self.base_url}/api/v1/{endpoint}",
            data=urllib.parse.urlencode(form).encode(),
            method="POST",
            headers={**self.headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                status, body = response.status, response.read(MAX_ANSWER)
        except urllib.error.HTTPError as answered:
            status, body = answered.code, answered.read(MAX_ANSWER)
        except TimeoutError:
            raise Unreachable(
                f"Prometheus ({self.name}) did not answer within {timeout:g} s."
            ) from None
        except ValueError:  # a URL urllib cannot send; its message would quote the URL
            raise Unreachable(f"{self.name} does not hold a URL that can be sent.") from None
        except http.client.HTTPException as exc:  # a broken answer: its text is the server's
            raise Unreachable(
                f"Prometheus ({self.name}) gave a broken answer: {type(exc).__name__}."
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise Unreachable(
                    f"Prometheus ({self.name}) did not answer within {timeout:g} s."
                ) from None
            raise Unreachable(
                f"Prometheus ({self.name}) is unreachable: {self._safe(_reason(reason))}."
            ) from None
        return self._answer(status, body)

    def _answer(self, status: int, body: bytes) -> dict[str, Any]:
        if status in (401, 403):
            raise Unreachable(
                f"Prometheus ({self.name}) refused the request ({status}): check its token."
            )
        try:
            document = json.loads(body)
        except ValueError:
            raise Unreachable(
                f"Prometheus ({self.name}) answered {status} without the API's JSON: is it a "
                "Prometheus server (or its API's base URL)?"
            ) from None
        if not isinstance(document, dict) or document.get("status") != "success":
            error = document.get("error") if isinstance(document, dict) else None
            kind = document.get("errorType") if isinstance(document, dict) else None
            message = self._safe(str(error or f"status {status}"))[:300]
            if status in (400, 422) or kind in ("bad_data", "execution"):
                raise QueryError(f"Prometheus refused the query: {message}")
            raise Unreachable(f"Prometheus ({self.name}) answered {status}: {message}")
        data = document.get("data")
        if not isinstance(data, dict):
            raise Unreachable(f"Prometheus ({self.name}) answered without data.")
        return data

    def _safe(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, self.name)
        return " ".join(text.split())


def _point(pair: Any) -> tuple[float, float]:
    when, value = pair
    return float(when), float(value)  # "NaN", "+Inf" parse as floats


def _reason(reason: object) -> str:
    text = str(reason)
    # "[Errno 111] Connection refused" reads better without the errno.
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text) or type(reason).__name__


def _seconds(value: float) -> str:
    """A duration as the API reads it: a number of seconds ("9.5"); a unit string such as
    "9.5s" would be refused, Prometheus's duration syntax having no fractions."""
    return f"{value:.3f}"
