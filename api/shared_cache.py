"""The Redis behind the cache, for the hot paths that need one round trip (throttles, gate answers)."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from typing import Any

from django.conf import settings


@functools.cache
def _client_for(url: str) -> Any:
    import redis

    # A Redis that hangs must not hang requests: every caller falls back when it fails.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def shared_redis() -> Any:
    """A Redis client when the cache is Redis (one per process, pooled connections); else None.
    Django's cache makes a client per call, which costs more than the counting itself."""
    config = settings.CACHES["default"]
    if config["BACKEND"].endswith("RedisCache"):
        return _client_for(config["LOCATION"])
    return None


# While Redis is away every request meets it; one line a minute per kind of failure says so.
QUIET_SECONDS = 60.0
_warned: dict[str, float] = {}
_warned_lock = threading.Lock()


def warn_unavailable(logger: logging.Logger, message: str, exc: BaseException) -> None:
    """Log that Redis failed (``message``: what that means here), once a minute per message,
    on one line: the request goes on without the cache."""
    now = time.monotonic()
    with _warned_lock:
        if now - _warned.get(message, -math.inf) < QUIET_SECONDS:
            return
        _warned[message] = now
    logger.warning(
        "%s (%s: %s; said once a minute while it lasts)", message, type(exc).__name__, exc
    )
