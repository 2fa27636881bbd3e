"""Tokens kept in Redis (api/token_cache.py): a repeat request authenticates without
the database, and every change that can stop a token stops a cached one at once."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import update_last_login
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import token_cache
from api.shared_cache import shared_redis
from releases.models import ApiToken
from releases.services.tokens import hash_token, token_authenticate, token_issue, token_revoke
from scripts.throwaway import free_port

from .conftest import OPERATOR, bearer, service_token, user_token

pytestmark = pytest.mark.django_db
RELEASE = "/api/v1/projects/shop/releases/1.0.0/"


def _token_queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(RELEASE)
    return answer.status_code, [q["sql"] for q in queries if "releases_apitoken" in q["sql"]]


def test_a_repeat_request_reads_the_token_from_the_cache(project, release, viewer):
    client = bearer(user_token(viewer))
    status, first = _token_queries(client)
    assert status == 200
    assert first
    status, again = _token_queries(client)
    assert status == 200
    assert again == []


def test_the_cache_never_holds_the_users_password_hash(project, release, viewer):
    viewer.set_password("a long and secret passphrase")
    viewer.save()
    raw = user_token(viewer)
    assert bearer(raw).get(RELEASE).status_code == 200
    entry = shared_redis().get(f"api-token:{hash_token(raw)}")
    assert entry is not None
    assert b"vic" in entry
    assert viewer.password.split("$")[-1].encode() not in entry  # ... without the hash


@pytest.mark.parametrize("kind", ["user", "service"])
def test_revoking_a_cached_token_stops_it_at_once(project, release, viewer, kind):
    raw = user_token(viewer) if kind == "user" else service_token(project)
    client = bearer(raw)
    assert client.get(RELEASE).status_code == 200
    token_revoke(actor=OPERATOR, token=ApiToken.objects.get())
    assert client.get(RELEASE).status_code == 401


def test_deleting_a_cached_token_stops_it(project, release, viewer):
    client = bearer(user_token(viewer))
    assert client.get(RELEASE).status_code == 200
    ApiToken.objects.get().delete()
    assert client.get(RELEASE).status_code == 401


def test_deactivating_the_user_stops_a_cached_user_token(project, release, viewer):
    client = bearer(user_token(viewer))
    assert client.get(RELEASE).status_code == 200
    viewer.is_active = False
    viewer.save()
    assert client.get(RELEASE).status_code == 401


def test_losing_the_role_is_seen_at_once(project, release, viewer):
    client = bearer(user_token(viewer))
    assert client.get(RELEASE).status_code == 200
    viewer.memberships.all().delete()
    assert client.get(RELEASE).status_code == 404  # no role: the project is not there for them


def test_a_read_from_before_a_revocation_cannot_put_the_token_back(project, release, viewer):
    raw = user_token(viewer)
    before = token_authenticate(raw)  # a request read the token ...
    assert before is not None
    token_revoke(actor=OPERATOR, token=before)  # ... the token is revoked ...
    token_cache._keep(before)  # ... and only then does that request try to cache what it read
    assert bearer(raw).get(RELEASE).status_code == 401


def test_expiry_is_checked_on_the_cached_token(project, release, viewer):
    _, raw = token_issue(
        actor=OPERATOR,
        name="short",
        user=viewer,
        expires_at=timezone.now() + timedelta(seconds=1),
    )
    client = bearer(raw)
    assert client.get(RELEASE).status_code == 200
    assert client.get(RELEASE).status_code == 200  # from the cache
    time.sleep(1.1)
    assert client.get(RELEASE).status_code == 401


def test_last_use_is_noted_once_a_minute_from_the_cache(project, release, viewer):
    raw = user_token(viewer)
    client = bearer(raw)
    assert client.get(RELEASE).status_code == 200
    noted = ApiToken.objects.get().last_used_at
    assert noted is not None
    shared_redis().delete(f"api-token-used:{hash_token(raw)}")  # as if a minute went by
    assert client.get(RELEASE).status_code == 200
    assert ApiToken.objects.get().last_used_at > noted


def test_without_redis_tokens_are_read_from_the_database(project, release, viewer, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client = bearer(user_token(viewer))
    for _ in range(2):
        status, queries = _token_queries(client)
        assert status == 200
        assert queries


def test_the_commit_buries_the_token_again(
    project, release, viewer, django_capture_on_commit_callbacks
):
    raw = user_token(viewer)
    before = token_authenticate(raw)
    assert before is not None
    with django_capture_on_commit_callbacks(execute=True):
        token_revoke(actor=OPERATOR, token=before)
        # Another request, between the change and its commit, caches what it read before it.
        shared_redis().delete(f"api-token:{hash_token(raw)}")
        token_cache._keep(before)
    assert bearer(raw).get(RELEASE).status_code == 401


def test_every_process_connects_the_receivers_that_retire_cached_tokens():
    # A process that only runs the admin or the worker never loads the API's views; it must
    # still retire cached tokens when it changes them.
    probe = (
        "import sys, django; django.setup(); "
        "print('api.token_cache' in sys.modules, 'api.gate_cache' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "preflight.settings.local"},
    )
    assert done.stdout.split() == ["True", "True"]


def _entry_key(raw: str) -> str:
    return f"api-token:{hash_token(raw)}"


def test_an_entry_copied_to_another_token_is_not_trusted(project, release, viewer):
    real = user_token(viewer)
    assert bearer(real).get(RELEASE).status_code == 200
    made_up = "pf_" + "x" * 43
    # Someone who can write to Redis copies a good entry under a token they made up ...
    shared_redis().set(_entry_key(made_up), shared_redis().get(_entry_key(real)), ex=60)
    assert bearer(made_up).get(RELEASE).status_code == 401
    # ... or alters one.
    entry = shared_redis().get(_entry_key(real))
    shared_redis().set(_entry_key(real), entry.replace(b"vic", b"ana"), ex=60)
    status, queries = _token_queries(bearer(real))
    assert status == 200
    assert queries  # read from the database again


def test_an_entry_read_more_than_a_minute_ago_is_not_used(project, release, viewer):
    raw = user_token(viewer)
    token = token_authenticate(raw)
    assert token is not None
    key_hash = hash_token(raw)
    signed = b"0 %f " % (time.time() - 61) + pickle.dumps(token)
    project_id, read_at, data = signed.split(b" ", 2)
    stale = b" ".join([project_id, read_at, token_cache._signature(key_hash, signed), data])
    shared_redis().set(_entry_key(raw), stale, ex=60)
    # Revoked without the signals (as raw SQL would): only the database knows.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert bearer(raw).get(RELEASE).status_code == 401


def test_saving_a_service_project_retires_its_cached_tokens(project, release):
    raw = service_token(project)
    assert bearer(raw).get(RELEASE).status_code == 200
    project.name = "Renamed"
    project.save()
    assert shared_redis().get(_entry_key(raw)) == token_cache.TOMBSTONE


def test_signing_in_leaves_the_users_cached_tokens_alone(project, release, viewer):
    raw = user_token(viewer)
    assert bearer(raw).get(RELEASE).status_code == 200
    update_last_login(None, viewer)
    assert shared_redis().get(_entry_key(raw)) != token_cache.TOMBSTONE
    status, queries = _token_queries(bearer(raw))
    assert status == 200
    assert queries == []


def test_unknown_tokens_leave_nothing_behind_in_redis(project, release):
    before = set(shared_redis().scan_iter("*"))
    for n in range(5):
        assert bearer(f"pf_unknown-{n}").get(RELEASE).status_code == 401
    added = set(shared_redis().scan_iter("*")) - before
    assert all(b"throttle_login" in key for key in added), added  # the failures, per address


def test_without_a_reachable_redis_the_api_still_answers(
    project, release, environments, viewer, settings
):
    kept = settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        }
    }
    settings.PREFLIGHT_GATE_CACHE_SECONDS = 5
    try:
        client = bearer(user_token(viewer))
        assert client.get(RELEASE).status_code == 200
        gate = client.get(f"{RELEASE}gate/?environment=staging")
        assert gate.status_code == 200
        assert "allowed" in gate.json()
    finally:
        settings.CACHES = kept  # the suite's teardown clears the real cache
