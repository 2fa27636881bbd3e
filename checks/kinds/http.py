"""An HTTP endpoint answers as expected: status, body substring, JSON fields, within a latency
budget. Secrets in headers are named as ${ENV_VAR} and read from the environment at run time."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from .base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    check_placeholders,
    fill,
    need_number,
    need_str,
    only_keys,
    refuse_reserved_env,
    register,
    reserved_env,
)

METHODS = ("GET", "HEAD", "POST", "OPTIONS")
MAX_BODY = 1024 * 1024
ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|key|password", re.IGNORECASE)
_MISSING = object()


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(
        config,
        {
            "method",
            "url",
            "headers",
            "expected_status",
            "body_contains",
            "json",
            "latency_budget_ms",
            "latency_exceeded",
            "timeout_seconds",
        },
    )
    clean: dict[str, Any] = {}
    clean["method"] = need_str(config, "method", default="GET").upper()
    if clean["method"] not in METHODS:
        raise ConfigError("method", f"must be one of {', '.join(METHODS)}")
    url = need_str(config, "url")
    check_placeholders("url", url)
    if not re.match(r"^(https?://|\{base_url\})", url):
        raise ConfigError("url", "must start with http://, https:// or {base_url}")
    clean["url"] = url

    headers = config.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError("headers", "must map header names to strings")
    for name, value in headers.items():
        if SECRET_HEADER.search(name) and not ENV_REF.fullmatch(value.split(" ")[-1]):
            raise ConfigError(
                f"headers.{name}",
                "name the secret as ${ENV_VAR}; secrets are never stored in the catalog",
            )
        for variable in ENV_REF.findall(value):
            refuse_reserved_env(f"headers.{name}", variable)
    clean["headers"] = dict(headers)

    expected = config.get("expected_status", 200)
    statuses = expected if isinstance(expected, list) else [expected]
    if not statuses or not all(
        isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
    ):
        raise ConfigError("expected_status", "must be a status code (100-599) or a list of them")
    clean["expected_status"] = expected

    if "body_contains" in config:
        clean["body_contains"] = need_str(config, "body_contains")
    if "json" in config:
        fields = config["json"]
        if not isinstance(fields, Mapping) or not fields:
            raise ConfigError("json", "must map JSON paths (a.b.0.c) to expected values")
        clean["json"] = dict(fields)
    if "latency_budget_ms" in config:
        clean["latency_budget_ms"] = need_number(
            config, "latency_budget_ms", default=0, minimum=1, maximum=600_000
        )
    exceeded = config.get("latency_exceeded", "warn")
    if exceeded not in ("warn", "fail"):
        raise ConfigError("latency_exceeded", "must be warn or fail")
    clean["latency_exceeded"] = exceeded
    clean["timeout_seconds"] = need_number(
        config, "timeout_seconds", default=10, minimum=0.1, maximum=60
    )
    return clean


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer: the check compares its status. Following it would also carry
    the request's headers, secrets included, to whatever host the Location names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _resolve_env(value: str) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ or reserved_env(name):
            raise LookupError(name)
        return os.environ[name]

    return ENV_REF.sub(lookup, value)


def _json_path(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def evaluate(ctx: CheckContext) -> Outcome:
    config = ctx.config
    url = fill(config["url"], ctx)
    try:
        headers = {name: _resolve_env(value) for name, value in config.get("headers", {}).items()}
    except LookupError as missing:
        return Outcome(
            "error", f"The environment variable {missing} named in the headers is not set."
        )
    timeout = min(float(config.get("timeout_seconds", 10)), ctx.timeout)
    request = urllib.request.Request(url, method=config.get("method", "GET"), headers=headers)  # noqa: S310
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, body = response.status, response.read(MAX_BODY)
    except urllib.error.HTTPError as answered:
        status, body = answered.code, answered.read(MAX_BODY)
    except TimeoutError:
        return Outcome("fail", f"{url} did not answer within {timeout:g} s.")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome("fail", f"{url} is unreachable: {reason}.")
    elapsed_ms = (time.perf_counter() - started) * 1000
    data = {"status": status, "latency_ms": round(elapsed_ms, 1)}

    expected = config.get("expected_status", 200)
    allowed = expected if isinstance(expected, list) else [expected]
    if status not in allowed:
        return Outcome(
            "fail", f"{url} answered {status}, expected {expected}.", evidence_url=url, data=data
        )
    text = body.decode("utf-8", errors="replace")
    needle = config.get("body_contains")
    if needle and needle not in text:
        return Outcome(
            "fail", f"{url} answered without {needle!r} in its body.", evidence_url=url, data=data
        )
    if config.get("json"):
        try:
            document = json.loads(text)
        except ValueError:
            return Outcome("fail", f"{url} did not answer JSON.", evidence_url=url, data=data)
        for path, wanted in config["json"].items():
            found = _json_path(document, path)
            if found is _MISSING:
                return Outcome(
                    "fail", f"{url}: JSON field {path} is missing.", evidence_url=url, data=data
                )
            if found != wanted:
                return Outcome(
                    "fail",
                    f"{url}: JSON field {path} is {found!r}, expected {wanted!r}.",
                    evidence_url=url,
                    data=data,
                )
    budget = config.get("latency_budget_ms")
    if budget and elapsed_ms > budget:
        return Outcome(
            config.get("latency_exceeded", "warn"),
            f"{url} answered {status} in {elapsed_ms:.0f} ms, over its {budget:g} ms budget.",
            evidence_url=url,
            data=data,
        )
    return Outcome(
        "pass", f"{url} answered {status} in {elapsed_ms:.0f} ms.", evidence_url=url, data=data
    )


KIND = register(
    Kind(
        name="http",
        description="An HTTP endpoint answers with the expected status, body and latency.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
    )
)
