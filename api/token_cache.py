"""API tokens kept in Redis for a minute, so a request authenticates without a database query.

CI polls the gate many times a minute with the same token; reading the token, its user and its
service project from PostgreSQL each time cost more than answering the gate from its cache. A
token found in the database is kept here (pickled, the user's password hash deferred, so it never
leaves the database) and read back together with the request's rate count and the once-a-minute
"last used" mark: one Redis round trip authenticates and counts a request. For a service token
the same trip reads its project's gate state, which lets a pipeline's gate poll be answered from
the web process's memory (api/gate_cache.py).

What is cached only ever makes a token *work*, so a change that can stop one must reach the cache
at once: every save or delete of a token, its user or its service project (through the model
signals below) writes a tombstone over the token's entry, both when the change is made and again
when its transaction commits. While a tombstone stands, the token is read from the database every
time and not cached again, so a request that read the database just before the change committed
cannot put the old state back; and no entry is used more than a minute after its database read.
Changes that bypass the signals (``QuerySet.update()``, raw SQL, data migrations) reach cached
tokens within that minute. Roles are not cached: a user token's role is read from the database
on each request. Expiry is checked on the cached token, against the clock. Entries are signed
with a key derived from SECRET_KEY and bound to their key, so nothing else that writes to this
Redis can make one.

Without Redis (``make run``'s default), or when Redis fails, every request reads the database.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import pickle
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from releases.models import ApiToken, Project
from releases.services.tokens import (
    LAST_USED_RESOLUTION,
    TOKEN_PREFIX,
    hash_token,
    token_authenticate,
    token_mark_used,
)

from .shared_cache import shared_redis, warn_unavailable

log = logging.getLogger(__name__)

ENTRY_SECONDS = 60
TOMBSTONE = b"void"
# Longer than any request can take (gunicorn's timeout is 60 s) between reading a token from the
# database and caching it.
TOMBSTONE_SECONDS = 5 * 60

# One round trip: the entry, then (only for a cached token, so unknown tokens leave nothing
# behind) the once-a-minute last-used mark, one more in the rate window when there is a rate, and
# a service token's project's gate state when asked for it. (That key is named in ARGV, not
# KEYS: its project id is only known from the entry. Fine on one Redis, not on a cluster.)
_READ = """
local entry = redis.call('GET', KEYS[1])
if not entry or entry == ARGV[1] then return {} end
local first = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) and 1 or 0
local count = 0
if KEYS[3] then
  count = redis.call('INCR', KEYS[3])
  if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
end
local project = string.match(entry, '^(%d+) ')
local value = false
if ARGV[4] ~= '' and project and project ~= '0' then value = redis.call('GET', ARGV[4] .. project) end
return {entry, first, count, value or ''}
"""


@functools.cache
def _read_script(client: Any) -> Any:
    return client.register_script(_READ)


def _entry_key(key_hash: str) -> str:
    return f"api-token:{key_hash}"


def _used_key(key_hash: str) -> str:
    return f"api-token-used:{key_hash}"


class Found(NamedTuple):
    token: ApiToken | None
    # This request's number in the token's rate window, when counted with the token.
    counted: int | None = None
    # For a service token read from the cache: its project's gate state ("" when there is
    # none yet), read in the same round trip.
    gate_state: str | None = None


def authenticate(
    raw: str,
    rate_window: Callable[[str], tuple[str, int] | None],
    gate_state_prefix: str = "",
) -> Found:
    """The active token ``raw`` names (else None), from the cache when it is there. In the same
    round trip, the request is counted in the token's rate window (``rate_window(key_hash)``:
    the throttle's key and its lifetime, None without a rate) and, for a service token, its
    project's gate state is read (the key ``gate_state_prefix`` + project id)."""
    client = shared_redis()
    if client is None or not raw.startswith(TOKEN_PREFIX):
        return Found(token_authenticate(raw))
    key_hash = hash_token(raw)
    window = rate_window(key_hash)
    keys = [_entry_key(key_hash), _used_key(key_hash)]
    args: list[Any] = [TOMBSTONE, int(LAST_USED_RESOLUTION.total_seconds())]
    if window is not None:
        keys.append(window[0])
    args += [window[1] if window is not None else 0, gate_state_prefix]
    try:
        found = _read_script(client)(keys=keys, args=args)
    except Exception as exc:  # the cache is an optimisation: without it, read the database
        warn_unavailable(log, "token cache unavailable: tokens read from the database", exc)
        return Found(token_authenticate(raw))
    if not found:
        token = token_authenticate(raw)
        if token is not None:
            _keep(token)
        return Found(token)
    counted = int(found[2]) if window is not None else None
    token = _token_of(key_hash, found[0])
    if token is None:  # counted already: the throttle must not count it again
        return Found(token_authenticate(raw), counted)
    now = timezone.now()
    if not token.is_active(now) or (token.user is not None and not token.user.is_active):
        return Found(None, counted)  # the user check is a second guard: saves retire entries
    if found[1]:
        token_mark_used(token, now)
    gate_state = found[3].decode() if gate_state_prefix and token.is_service else None
    return Found(token, counted, gate_state)


# An entry: b"<project id or 0> <read at> <signature> <pickled token>". The script reads the
# project id. The signature (keyed by SECRET_KEY) binds the rest to the entry's key, so nothing
# else that can write to this Redis (the Celery broker shares it) can make or move an entry;
# the read time bounds how long a copy read before a change can ever be used.


def _signature(key_hash: str, signed: bytes) -> bytes:
    message = key_hash.encode() + b" " + signed
    return hmac.new(_signing_key(settings.SECRET_KEY), message, hashlib.sha256).hexdigest().encode()


@functools.cache
def _signing_key(secret: str) -> bytes:
    """A key of its own for these entries, derived from SECRET_KEY (as Django's salted_hmac
    derives one on each use; here once per process)."""
    return hashlib.sha256(b"api.token_cache" + secret.encode()).digest()


def _entry(token: ApiToken) -> bytes:
    signed = b"%d %f " % (token.project_id or 0, time.time()) + pickle.dumps(token)
    project, read_at, data = signed.split(b" ", 2)
    return b" ".join([project, read_at, _signature(token.key_hash, signed), data])


def _token_of(key_hash: str, entry: bytes) -> ApiToken | None:
    """The token an entry holds, or None when it is not one this process can trust now."""
    try:
        project, read_at, signature, data = entry.split(b" ", 3)
        signed = b" ".join([project, read_at, data])
        if not constant_time_compare(signature, _signature(key_hash, signed)):
            log.error("a token cache entry with a wrong signature was ignored")
            return None
        if time.time() - float(read_at) > ENTRY_SECONDS:
            return None
        token = pickle.loads(data)  # noqa: S301 - signed above
    except Exception:
        log.warning("unreadable token cache entry", exc_info=True)
        return None
    return token if isinstance(token, ApiToken) and token.key_hash == key_hash else None


def _keep(token: ApiToken) -> None:
    """Cache a token just read from the database (which noted its use), unless a tombstone says
    it is changing."""
    try:
        pipe = shared_redis().pipeline(transaction=False)
        pipe.set(_entry_key(token.key_hash), _entry(token), ex=ENTRY_SECONDS, nx=True)
        pipe.set(
            _used_key(token.key_hash), 1, ex=int(LAST_USED_RESOLUTION.total_seconds()), nx=True
        )
        pipe.execute()
    except Exception as exc:
        warn_unavailable(log, "token cache unavailable: tokens read from the database", exc)


def _bury(key_hashes: list[str]) -> None:
    client = shared_redis()
    if client is None or not key_hashes:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key_hash in key_hashes:
            pipe.set(_entry_key(key_hash), TOMBSTONE, ex=TOMBSTONE_SECONDS)
        pipe.execute()
    except Exception as exc:
        # The change stands; a cached token it stopped keeps working until its entry expires
        # (a minute after it was read from the database), if this Redis kept it.
        log.error("could not retire cached API tokens (%s: %s)", type(exc).__name__, exc)


def _retire(key_hashes: list[str]) -> None:
    """Tombstones now, and again once the change commits (see the module's docstring)."""
    _bury(key_hashes)
    transaction.on_commit(lambda: _bury(key_hashes))


@receiver([post_save, post_delete], sender=ApiToken, dispatch_uid="token-cache-token")
def _token_changed(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    if not kwargs.get("created"):  # a new token cannot have been cached
        _retire([instance.key_hash])


@receiver([post_save, post_delete], sender=get_user_model(), dispatch_uid="token-cache-user")
def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a login, on every sign-in: nothing a token depends on
    _retire(list(ApiToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)))


@receiver([post_save, post_delete], sender=Project, dispatch_uid="token-cache-project")
def _project_changed(sender: Any, instance: Project, **kwargs: Any) -> None:
    _retire(
        list(ApiToken.objects.filter(project_id=instance.pk).values_list("key_hash", flat=True))
    )
