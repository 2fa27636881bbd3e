"""Read settings from environment variables, failing loudly and in one line.

Every setting Preflight reads from the environment goes through these helpers, so a missing or
malformed value stops start-up with a message naming the variable and what it expects, instead of
surfacing later as a confusing runtime error. ``.env.example`` documents every variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_MISSING: Any = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ImproperlyConfigured):
    """A setting is missing or malformed. The message is one line, fit to print as is."""


def _raw(name: str, default: Any, expect: str, environ: Mapping[str, str] | None) -> Any:
    env = os.environ if environ is None else environ
    value = env.get(name)
    if (value is None or value.strip() == "") and env.get(f"{name}_FILE"):
        value = _read_secret_file(name, env[f"{name}_FILE"])
    if value is None or value.strip() == "":
        if default is _MISSING:
            raise SettingsError(f"{name} is required: expected {expect}")
        return default
    return value.strip()


def _read_secret_file(name: str, path: str) -> str:
    """``NAME_FILE`` names a file holding the value (Docker and Kubernetes secrets), so secrets
    need not sit in the environment, where ``ps`` and crash reports can show them."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise SettingsError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None


def secret_value(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    """A secret named by an environment variable, read when it is used (never kept in settings):
    ``NAME``, else the file ``NAME_FILE`` names; "" when neither is set."""
    try:
        return str(_raw(name, "", "a value", environ))
    except SettingsError:
        return ""


def env_str(
    name: str,
    *,
    default: Any = _MISSING,
    expect: str = "a non-empty string",
    environ: Mapping[str, str] | None = None,
) -> str:
    return _raw(name, default, expect, environ)


def env_bool(name: str, *, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is malformed: expected true/false (1/0, yes/no, on/off)")


def env_int(
    name: str,
    *,
    default: Any = _MISSING,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    expect = "an integer" if minimum is None else f"an integer >= {minimum}"
    value = _raw(name, default, expect, environ)
    if isinstance(value, int):
        return value
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is malformed: expected {expect}") from None
    if minimum is not None and number < minimum:
        raise SettingsError(f"{name}={value!r} is malformed: expected {expect}")
    return number


def env_list(
    name: str,
    *,
    default: Any = _MISSING,
    expect: str = "a comma-separated list",
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    value = _raw(name, default, expect, environ)
    if isinstance(value, list):
        return value
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise SettingsError(f"{name}={value!r} is malformed: expected {expect}")
    return items


def env_secret_key(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    expect = (
        "a random string of at least 50 characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
    value = _raw(name, _MISSING, expect, environ)
    if len(value) < 50 or len(set(value)) < 5 or value.startswith("django-insecure"):
        raise SettingsError(f"{name} is malformed: expected {expect}")
    return str(value)


DATABASE_EXPECT = "a database URL such as postgres://user:password@host:5432/preflight or sqlite:///path/db.sqlite3"


def env_database(
    name: str,
    *,
    default: Any = _MISSING,
    schemes: tuple[str, ...] = ("postgres", "postgresql", "sqlite"),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Parse a database URL into Django's DATABASES entry."""
    url = _raw(name, default, DATABASE_EXPECT, environ)
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        allowed = "/".join(schemes)
        raise SettingsError(
            f"{name} is malformed: expected a {allowed}:// URL, got {scheme or 'no'} scheme"
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url))
    except ValueError as exc:
        raise SettingsError(f"{name} is malformed ({exc}): expected {DATABASE_EXPECT}") from None
    if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
        raise SettingsError(
            f"{name} is malformed: the URL names no database; expected {DATABASE_EXPECT}"
        )
    return config


def env_redis_url(
    name: str, *, default: Any = _MISSING, environ: Mapping[str, str] | None = None
) -> str | None:
    expect = "a Redis URL such as redis://localhost:6379/0"
    url = _raw(name, default, expect, environ)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise SettingsError(f"{name} is malformed: expected {expect}")
    return url
