"""The Redis behind the cache, for the hot paths that need one round trip (throttles, gate answers)."""

from __future__ import annotations

import functools
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
