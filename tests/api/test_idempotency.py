"""Idempotency-Key on POSTs: final answers are replayed, answers of the moment are evaluated
afresh, another body is 422, a repeat in flight is 409 with Retry-After, a failure leaves the key
free, keys are kept at least 24 hours, and 50 concurrent duplicates make one record."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from api.idempotency import kept
from audit.models import AuditEvent
from releases.models import Deployment, Environment, IdempotencyKey, Membership, Release
from releases.services.locks import freeze_create, freeze_delete, lock_acquire, lock_release
from releases.tasks import purge_idempotency_keys

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, DeploymentFactory, ResultFactory, RunFactory
from .conftest import bearer, service_token, user_token

pytestmark = pytest.mark.django_db
RELEASES = "/api/v1/projects/shop/releases/"
DEPLOYMENTS = "/api/v1/projects/shop/deployments/"
BODY = {"version": "2.0.0", "git_sha": "abcdef1"}
TO_DEV = {"version": "1.0.0", "environment": "development"}


def post(client, url: str, body, key: str, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        url, data=data, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **extra
    )


def replayed(answer) -> bool:
    return answer.get("Idempotent-Replayed") == "true"


# --- What is kept -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "is_kept"),
    [
        (200, None, True),
        (201, None, True),
        (202, None, True),
        (400, "invalid", True),
        (400, "parse_error", True),
        (422, "idempotency_key_reused", True),
        (409, "version_conflict", True),
        (409, "invalid_transition", True),
        (401, "invalid_token", False),
        (403, "role_insufficient", False),
        (404, "not_found", False),
        (409, "environment_busy", False),
        (409, "request_in_flight", False),
        (409, "not_latest", False),
        (412, "gate_closed", False),
        (413, "request_too_large", False),
        (415, "unsupported_media_type", False),
        (429, "throttled", False),
        (500, "server_error", False),
        (502, None, False),
        (503, "unavailable", False),
    ],
)
def test_final_answers_are_kept_and_answers_of_the_moment_are_not(status, code, is_kept):
    assert kept(status, code) is is_kept


def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer(ci, project):
    first = post(ci, RELEASES, BODY, "k-1")
    again = post(ci, RELEASES, BODY, "k-1")
    assert first.status_code == again.status_code == 201  # not 200: the first answer, replayed
    assert again.content == first.content
    assert replayed(again)
    assert not replayed(first)
    assert Release.objects.count() == 1
    key = IdempotencyKey.objects.get()
    assert (key.response_status, key.method, key.path) == (201, "POST", RELEASES)


def test_the_same_json_with_other_whitespace_and_member_order_is_the_same_body(ci, project):
    first = post(ci, RELEASES, '{"version": "2.0.0", "git_sha": "abcdef1"}', "k-1")
    again = post(ci, RELEASES, '{\n  "git_sha":"abcdef1",\n\t"version" : "2.0.0"\n}\n', "k-1")
    assert (again.status_code, again.content) == (201, first.content)
    assert replayed(again)


def test_the_same_key_with_another_body_is_422(ci, project):
    post(ci, RELEASES, BODY, "k-1")
    answer = post(ci, RELEASES, {**BODY, "version": "2.0.1"}, "k-1")
    assert answer.status_code == 422
    assert answer.json()["code"] == "idempotency_key_reused"
    assert not Release.objects.filter(version="2.0.1").exists()


def test_the_same_key_on_another_path_is_422(ci, project, release, environments):
    post(ci, RELEASES, BODY, "k-1")
    answer = post(ci, f"{RELEASES}1.0.0/runs/", {"environment": "staging"}, "k-1")
    assert answer.status_code == 422


def test_invalid_input_is_kept_and_replayed(ci, project):
    first = post(ci, RELEASES, {"version": "2.0.0"}, "k-1")
    again = post(ci, RELEASES, {"version": "2.0.0"}, "k-1")
    assert first.status_code == again.status_code == 400
    assert again.content == first.content
    assert replayed(again)
    assert post(ci, RELEASES, BODY, "k-1").status_code == 422


def test_a_body_that_is_not_json_is_kept_like_any_400(ci, project):
    first = post(ci, RELEASES, '{"version": ', "k-1")
    again = post(ci, RELEASES, '{"version": ', "k-1")
    assert first.status_code == again.status_code == 400
    assert first.json()["code"] == "parse_error"
    assert replayed(again)
    assert post(ci, RELEASES, BODY, "k-1").status_code == 422


def test_a_version_registered_for_another_commit_is_a_final_conflict(ci, project, release):
    body = {"version": "1.0.0", "git_sha": "fedcba9"}
    first = post(ci, RELEASES, body, "k-1")
    assert (first.status_code, first.json()["code"]) == (409, "version_conflict")
    again = post(ci, RELEASES, body, "k-1")
    assert (again.status_code, again.content) == (409, first.content)
    assert replayed(again)


def test_finishing_a_finished_deployment_the_other_way_is_a_final_conflict(
    ci, project, release, environments
):
    deployment = DeploymentFactory(
        release=release, environment=environments["development"], status="succeeded"
    )
    url = f"/api/v1/deployments/{deployment.pk}/finish/"
    first = post(ci, url, {"status": "failed"}, "k-1")
    assert (first.status_code, first.json()["code"]) == (409, "invalid_transition")
    assert replayed(post(ci, url, {"status": "failed"}, "k-1"))


# --- Answers of the moment: a retry with the same key is evaluated afresh -------------------


def _deployment_in_progress(env: Environment) -> Callable[[], None]:
    running = DeploymentFactory(release__project=env.project, environment=env, status="in_progress")
    return lambda: Deployment.objects.filter(pk=running.pk).update(
        status="succeeded", finished_at=timezone.now()
    )


def _locked(env: Environment, admin) -> Callable[[], None]:
    lock_acquire(actor=as_actor(admin), environment=env, reason="Database migration")
    return lambda: lock_release(actor=as_actor(admin), environment=env) and None


def _frozen(env: Environment, admin) -> Callable[[], None]:
    freeze = freeze_create(
        actor=as_actor(admin),
        environment=env,
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=1),
        reason="Black Friday",
    )
    return lambda: freeze_delete(actor=as_actor(admin), freeze=freeze)


@pytest.mark.parametrize(
    ("hold", "code"),
    [
        (lambda env, admin: _deployment_in_progress(env), "deployment_in_progress"),
        (_locked, "locked"),
        (_frozen, "frozen"),
    ],
    ids=["deployment in progress", "locked", "frozen"],
)
def test_a_deploy_refused_as_busy_runs_with_the_same_key_once_the_environment_frees(
    ci, open_dev, admin, hold, code
):
    free = hold(open_dev, admin)
    busy = post(ci, DEPLOYMENTS, TO_DEV, "deploy-1")
    assert (busy.status_code, busy.json()["code"]) == (409, "environment_busy")
    assert [h["code"] for h in busy.json()["holds"]] == [code]
    assert not IdempotencyKey.objects.exists()
    # The refusal is recorded, although its answer is not kept.
    assert AuditEvent.objects.filter(action="deployment.started", outcome="failure").count() == 1

    free()
    answer = post(ci, DEPLOYMENTS, TO_DEV, "deploy-1")
    assert answer.status_code == 201
    assert not replayed(answer)
    assert post(ci, DEPLOYMENTS, TO_DEV, "deploy-1").content == answer.content
    assert Deployment.objects.filter(release__version="1.0.0").count() == 1


def test_a_deploy_refused_by_a_closed_gate_is_evaluated_afresh_once_a_run_opens_it(
    ci, project, release, environments
):
    closed = post(ci, DEPLOYMENTS, TO_DEV, "deploy-1")
    assert closed.status_code == 412
    assert "no_run" in [r["code"] for r in closed.json()["reasons"]]

    check = CheckFactory(project=project, category=CategoryFactory(project=project, weight=100))
    run = RunFactory(release=release, environment=environments["development"], score=Decimal(100))
    ResultFactory(run=run, check_item=check, status="pass")
    opened = post(ci, DEPLOYMENTS, TO_DEV, "deploy-1")
    assert opened.status_code == 201
    assert Deployment.objects.get().release == release


def test_a_deploy_of_a_release_not_registered_yet_runs_with_the_same_key_once_it_is(ci, open_dev):
    body = {"version": "2.0.0", "environment": "development"}
    assert post(ci, DEPLOYMENTS, body, "deploy-1").status_code == 404
    assert post(ci, RELEASES, BODY, "register-1").status_code == 201
    # The gate is evaluated afresh too: 2.0.0 has no run yet.
    assert post(ci, DEPLOYMENTS, body, "deploy-1").status_code == 412


def test_a_refusal_by_role_is_evaluated_afresh_once_the_role_allows(project, viewer):
    client = bearer(user_token(viewer))
    refused = post(client, RELEASES, BODY, "k-1")
    assert (refused.status_code, refused.json()["code"]) == (403, "role_insufficient")
    Membership.objects.filter(user=viewer).update(role="deployer")
    assert post(client, RELEASES, BODY, "k-1").status_code == 201


def test_a_database_error_leaves_nothing_half_written_and_the_key_free(ci, open_dev):
    table = Deployment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_deployments() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_deployments()"
        )
    failed = post(ci, DEPLOYMENTS, TO_DEV, "deploy-1")
    assert (failed.status_code, failed.json()["code"]) == (500, "server_error")
    assert not IdempotencyKey.objects.exists()
    assert not Deployment.objects.exists()
    assert not AuditEvent.objects.filter(action="deployment.started").exists()

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse ON {table}")
    answer = post(ci, DEPLOYMENTS, TO_DEV, "deploy-1")
    assert answer.status_code == 201
    assert AuditEvent.objects.filter(action="deployment.started").count() == 1


def test_an_answer_that_cannot_be_stored_takes_its_work_back_and_leaves_the_key_free(ci, open_dev):
    """Storing the answer is part of the work's transaction: when it fails, the deployment is
    not left behind without its answer, and the retry runs."""
    table = IdempotencyKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_answers() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW WHEN (NEW.response_status IS NOT NULL) EXECUTE FUNCTION refuse_answers()"
        )
    assert post(ci, DEPLOYMENTS, TO_DEV, "deploy-1").status_code == 500
    assert not Deployment.objects.exists()
    assert not IdempotencyKey.objects.exists()

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse ON {table}")
    assert post(ci, DEPLOYMENTS, TO_DEV, "deploy-1").status_code == 201
    assert Deployment.objects.count() == 1


# --- Over real HTTP ---------------------------------------------------------------------------


def _post(url: str, token: str, body: dict, key: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(), dict(refused.headers)


def _wait_for_a_request_waiting_on_a_lock() -> None:
    deadline = time.monotonic() + 20
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the first request never reached the environment's lock")


@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_is_running_is_409_with_retry_after(
    live_server, release, environments, passing_run
):
    token = service_token(release.project)
    url = live_server.url + DEPLOYMENTS
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Hold the environment's row lock, so the first request stops inside its transaction.
        with transaction.atomic():
            Environment.objects.select_for_update().get(pk=environments["development"].pk)
            first = pool.submit(_post, url, token, TO_DEV, "deploy-1")
            _wait_for_a_request_waiting_on_a_lock()
            status, body, headers = _post(url, token, TO_DEV, "deploy-1")
            assert status == 409, body
            assert json.loads(body)["code"] == "request_in_flight"
            assert headers["Retry-After"] == "1"
        status, created, _ = first.result(timeout=30)
    assert status == 201
    status, again, headers = _post(url, token, TO_DEV, "deploy-1")
    assert (status, again, headers.get("Idempotent-Replayed")) == (201, created, "true")
    assert Deployment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_lost_mid_request_leaves_the_key_free(
    live_server, release, environments, passing_run
):
    """The connection dies under the request (as when PostgreSQL restarts): nothing it did
    remains, and the retry with the same key runs instead of finding the key taken."""
    token = service_token(release.project)
    url = live_server.url + DEPLOYMENTS
    table = Deployment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION drop_connection() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER drop_connection BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION drop_connection()"
        )
    try:
        status, body, headers = _post(url, token, TO_DEV, "deploy-1")
        # The database is away for this request: 503 with Retry-After, the API's error body.
        assert status == 503
        assert json.loads(body)["code"] == "unavailable"
        assert headers["Retry-After"] == "5"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER drop_connection ON {table}")
            cursor.execute("DROP FUNCTION drop_connection()")
    assert not IdempotencyKey.objects.exists()
    assert not Deployment.objects.exists()
    status, body, _ = _post(url, token, TO_DEV, "deploy-1")
    assert status == 201, body
    assert Deployment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_duplicates_make_one_record(live_server, project):
    token = service_token(project)
    url = live_server.url + RELEASES
    barrier = threading.Barrier(50)

    def attempt(_: int) -> tuple[int, bytes, dict[str, str]]:
        barrier.wait()
        try:
            return _post(url, token, BODY, "same-key")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(attempt, range(50)))
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {201, 409}, statuses
    created = [body for status, body, _ in answers if status == 201]
    assert created
    assert all(body == created[0] for body in created)
    assert all(headers["Retry-After"] == "1" for status, _, headers in answers if status == 409)
    assert Release.objects.filter(version="2.0.0").count() == 1
    assert IdempotencyKey.objects.count() == 1
    # Once done, every repeat replays the one answer.
    status, body, _ = _post(url, token, BODY, "same-key")
    assert (status, body) == (201, created[0])


# --- The key itself -----------------------------------------------------------------------


def test_keys_belong_to_their_principal(project):
    one, two = bearer(service_token(project, "a")), bearer(service_token(project, "b"))
    post(one, RELEASES, BODY, "k-1")
    other = post(two, RELEASES, {**BODY, "version": "2.0.1"}, "k-1")
    assert other.status_code == 201
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ключ"])
def test_a_malformed_key_is_400(ci, project, key):
    answer = post(ci, RELEASES, BODY, key)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_idempotency_key"
    assert not Release.objects.exists()


def test_posts_without_a_key_store_nothing(ci, project):
    ci.post(RELEASES, BODY, format="json")
    assert not IdempotencyKey.objects.exists()


def test_keys_are_kept_at_least_24_hours_then_purged(ci, project, settings):
    assert settings.PREFLIGHT_IDEMPOTENCY_KEEP_HOURS >= 24
    for n, age in enumerate((1, 23, settings.PREFLIGHT_IDEMPOTENCY_KEEP_HOURS + 1)):
        post(ci, RELEASES, {**BODY, "version": f"2.0.{n}"}, f"k-{age}")
        IdempotencyKey.objects.filter(key=f"k-{age}").update(
            created_at=timezone.now() - timedelta(hours=age)
        )
    assert purge_idempotency_keys() == 1
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-1", "k-23"]
