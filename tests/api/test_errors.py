"""The one error body {code, detail, fields?} for every way a request can fail, and nothing
half-written when it does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from releases.models import ApiToken, Release
from releases.services.tokens import token_revoke

from .conftest import OPERATOR, bearer, user_token

pytestmark = pytest.mark.django_db
RELEASES = "/api/v1/projects/shop/releases/"
THROTTLES = {"token": "3/min", "anon": "2/min", "login": "3/min"}


def _is_error(answer, code: str) -> dict:
    body = answer.json()
    assert answer["Content-Type"] == "application/json"
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_no_credentials_is_401_with_www_authenticate(project):
    answer = APIClient().get(f"{RELEASES}1.0.0/")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == 'Bearer realm="preflight"'
    _is_error(answer, "not_authenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer pf_not-a-real-token", "Bearer", "Bearer a b", "Bearer nonsense"],
)
def test_a_bad_token_is_401(project, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    answer = client.get(f"{RELEASES}1.0.0/")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")
    _is_error(answer, "invalid_token")


def test_an_expired_token_is_401(project, viewer, release):
    raw = user_token(viewer)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = bearer(raw).get(f"{RELEASES}1.0.0/")
    assert answer.status_code == 401
    _is_error(answer, "invalid_token")


def test_a_revoked_token_is_401(project, viewer, release):
    raw = user_token(viewer)
    client = bearer(raw)
    assert client.get(f"{RELEASES}1.0.0/").status_code == 200
    token_revoke(actor=OPERATOR, token=ApiToken.objects.get())
    assert client.get(f"{RELEASES}1.0.0/").status_code == 401


def test_a_token_of_a_deactivated_user_is_401(project, viewer, release):
    client = bearer(user_token(viewer))
    viewer.is_active = False
    viewer.save()
    assert client.get(f"{RELEASES}1.0.0/").status_code == 401


def test_a_role_that_may_not_is_403_and_audited(as_user, viewer, project):
    answer = as_user(viewer).post(
        RELEASES, {"version": "1.0.0", "git_sha": "abcdef1"}, format="json"
    )
    assert answer.status_code == 403
    _is_error(answer, "role_insufficient")
    assert not Release.objects.exists()
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="release.created", outcome="denied").exists()


def test_an_unknown_project_is_404(as_user, viewer, project):
    answer = as_user(viewer).get("/api/v1/projects/nope/releases/1.0.0/")
    assert answer.status_code == 404
    _is_error(answer, "not_found")


def test_a_project_one_is_not_a_member_of_is_the_same_404(as_user, outsider, project):
    mine = as_user(outsider).get("/api/v1/projects/shop/releases/1.0.0/")
    nowhere = as_user(outsider).get("/api/v1/projects/nope/releases/1.0.0/")
    assert mine.status_code == nowhere.status_code == 404
    assert mine.json()["code"] == nowhere.json()["code"] == "not_found"


def test_an_unknown_path_is_404_json(as_user, viewer):
    answer = as_user(viewer).get("/api/v1/nothing/here/")
    assert answer.status_code == 404
    _is_error(answer, "not_found")


def test_a_method_the_endpoint_does_not_have_is_405_with_allow(as_user, viewer, release):
    answer = as_user(viewer).delete(f"{RELEASES}1.0.0/")
    assert answer.status_code == 405
    assert answer["Allow"] == "GET, HEAD, OPTIONS"
    _is_error(answer, "method_not_allowed")


def test_a_body_that_is_not_json_is_415(as_user, deployer, project):
    answer = as_user(deployer).post(
        RELEASES, "version=1.0.0&git_sha=abcdef1", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 415
    _is_error(answer, "unsupported_media_type")
    assert not Release.objects.exists()


def test_malformed_json_is_400(as_user, deployer, project):
    answer = as_user(deployer).post(RELEASES, "{not json", content_type="application/json")
    assert answer.status_code == 400
    _is_error(answer, "parse_error")


def test_a_body_that_is_not_an_object_is_400(as_user, deployer, project):
    answer = as_user(deployer).post(RELEASES, [1, 2], format="json")
    assert answer.status_code == 400
    body = _is_error(answer, "invalid")
    assert "non_field_errors" in body["fields"]


def test_missing_and_wrong_fields_are_400_per_field(as_user, deployer, project):
    answer = as_user(deployer).post(RELEASES, {"notes": 5}, format="json")
    body = _is_error(answer, "invalid")
    assert answer.status_code == 400
    assert body["fields"]["version"] == ["This field is required."]
    assert body["fields"]["git_sha"] == ["This field is required."]


def test_model_validation_is_400_per_field(as_user, deployer, project):
    answer = as_user(deployer).post(RELEASES, {"version": "-bad", "git_sha": "zz"}, format="json")
    body = _is_error(answer, "invalid")
    assert set(body["fields"]) == {"version", "git_sha"}


def test_a_session_works_with_csrf(deployer, project):
    deployer.refresh_from_db()  # the factory sets the password on the instance only
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(deployer)
    refused = client.post(RELEASES, {"version": "1.0.0", "git_sha": "abcdef1"}, format="json")
    assert refused.status_code == 403, refused.json()
    assert "CSRF" in refused.json()["detail"]
    page = client.get("/admin/login/")  # any page that sets the CSRF cookie
    token = page.cookies["csrftoken"].value
    created = client.post(
        RELEASES, {"version": "1.0.0", "git_sha": "abcdef1"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert created.status_code == 201
    assert created.json()["created_by"] == "dana"


def test_tokens_are_throttled_with_retry_after(viewer, release, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": THROTTLES}
    client = bearer(user_token(viewer))
    statuses = [client.get(f"{RELEASES}1.0.0/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = client.get(f"{RELEASES}1.0.0/")
    _is_error(answer, "throttled")
    assert int(answer["Retry-After"]) > 0
    # Another token has its own allowance.
    assert bearer(user_token(viewer, "other")).get(f"{RELEASES}1.0.0/").status_code == 200


def test_failed_logins_are_throttled_per_address(viewer, release, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": THROTTLES}
    guesser = APIClient()
    guesser.credentials(HTTP_AUTHORIZATION="Bearer pf_guess")
    statuses = [guesser.get(f"{RELEASES}1.0.0/").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert int(guesser.get(f"{RELEASES}1.0.0/")["Retry-After"]) > 0
    # A good token from that address is still served.
    assert bearer(user_token(viewer)).get(f"{RELEASES}1.0.0/").status_code == 200
