"""Request rates (settings REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], from the environment).

Counted in fixed windows with one atomic increment in the shared cache (Redis), so a request
costs the same however many came before it in the window (DRF's own throttles keep and rewrite
every timestamp). A client may send up to twice the rate across a window boundary.

- ``token``: requests per authenticated principal (each token, or each session user).
- ``anon``: requests without credentials, per client address.
- ``login``: failed authentications (unknown, expired or revoked tokens) per client address;
  over the rate, further attempts from that address get 429 before the token is even looked up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from releases.models import ApiToken

from .principals import is_authenticated, principal_of
from .shared_cache import shared_redis, warn_unavailable

log = logging.getLogger(__name__)


class _SettingsRate(SimpleRateThrottle):
    num_requests: int
    duration: int

    # DRF binds the rates when the class is defined; reading them per request lets tests and
    # operators change them through settings.
    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope or "")

    def _window(self, ident_key: str) -> tuple[str, float]:
        now = time.time()
        start = int(now // self.duration) * self.duration
        return f"{ident_key}:{start}", start + self.duration - now

    def _count(self, key: str) -> int:
        """Add one to the window's count and return it."""
        client = shared_redis()
        if client is not None:
            # One round trip: count, and give the window's key its lifetime when it is new.
            try:
                pipe = client.pipeline(transaction=False)
                pipe.incr(key)
                pipe.expire(key, self.duration + 1, nx=True)
                return int(pipe.execute()[0])
            except Exception as exc:
                # Redis is down: serve (the rate protects capacity; refusing everyone would
                # turn a cache outage into an API outage).
                warn_unavailable(log, "requests not counted: Redis unavailable", exc)
                return 0
        if self.cache.add(key, 1, timeout=self.duration + 1):
            return 1
        try:
            return int(self.cache.incr(key))
        except ValueError:  # expired between add and incr
            self.cache.add(key, 1, timeout=self.duration + 1)
            return 1

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        ident_key = self.get_cache_key(request, view)
        if ident_key is None:
            return True
        key, self._left = self._window(ident_key)
        return self._counted(request, key) <= self.num_requests

    def _counted(self, request: Request, key: str) -> int:
        return self._count(key)

    def wait(self) -> float | None:
        return max(getattr(self, "_left", 1.0), 1.0)


class TokenRateThrottle(_SettingsRate):
    """Tokens are counted by their hash, as they are authenticated: a token read from the token
    cache is counted in that same round trip (``token_cache.authenticate``)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not is_authenticated(request):
            return None
        if isinstance(request.auth, ApiToken):
            return self._token_ident_key(request.auth.key_hash)
        return self.cache_format % {"scope": self.scope, "ident": principal_of(request)}

    def _token_ident_key(self, key_hash: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": f"token:{key_hash}"}

    def window_of_token(self, key_hash: str) -> tuple[str, int] | None:
        """The key counting this token's requests now, and its lifetime; None without a rate."""
        if self.rate is None:
            return None
        return self._window(self._token_ident_key(key_hash))[0], self.duration + 1

    def _counted(self, request: Request, key: str) -> int:
        counted: int | None = getattr(request, "token_rate_count", None)
        return counted if counted is not None else self._count(key)


class AnonRateThrottle(_SettingsRate):
    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if is_authenticated(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(_SettingsRate):
    """Counts failed authentications per address; past the rate, a failed attempt is answered
    429 (with Retry-After) instead of 401. A good token costs no extra cache round trip."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def failure_allowed(self, request: Request) -> bool:
        """Count a failed authentication; False once the address is past the rate."""
        if self.rate is None:
            return True
        key, self._left = self._window(self.get_cache_key(request, None) or "")
        return self._count(key) <= self.num_requests
