"""Request rates (settings REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], from the environment).

- ``token``: requests per authenticated principal (each token, or each session user).
- ``anon``: requests without credentials, per client address.
- ``login``: failed authentications (unknown, expired or revoked tokens) per client address;
  over the rate, further attempts from that address get 429 before the token is even looked up.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from releases.models import ApiToken


class _SettingsRate(SimpleRateThrottle):
    # DRF binds the rates when the class is defined; reading them per request lets tests and
    # operators change them through settings.
    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope or "")


class TokenRateThrottle(_SettingsRate):
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonRateThrottle(_SettingsRate):
    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken) or (
            request.user is not None and request.user.is_authenticated
        ):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(_SettingsRate):
    """Counts failed authentications per address. ``allow_request`` is asked before a token is
    checked; ``failed_login_recorded`` adds a failure after one was refused."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    num_requests: int
    duration: int

    def failures_exceeded(self, request: Request) -> bool:
        if self.rate is None:
            return False
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self, request: Request) -> None:
        if self.rate is None:
            return
        self.failures_exceeded(request)  # loads and trims the history
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
