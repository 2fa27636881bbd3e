"""Django's own error answers — 404, 403, a refused CSRF token, a suspicious request, a method not
allowed, an exception no view handled — are the API's error body on API paths and HTML error
pages elsewhere."""

from __future__ import annotations

import pytest
from django.test import Client

from ..api.conftest import user_token

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.preflight.error_urls")]


def _api_error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status
    assert answer["Content-Type"] == "application/json"
    body = answer.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def _page(answer, status: int) -> str:
    assert answer.status_code == status
    assert answer["Content-Type"].startswith("text/html")
    html = answer.content.decode()
    assert "data-error" in html
    return html


def _signed_in(user, **options) -> Client:
    user.save()  # the factories hash the password without storing it; the session checks it
    client = Client(raise_request_exception=False, **options)
    client.force_login(user)
    return client


@pytest.fixture
def signed_in(admin) -> Client:
    return _signed_in(admin, enforce_csrf_checks=True)


def test_a_method_not_allowed_outside_drf_is_405_with_the_error_body_and_allow(admin):
    client = _signed_in(admin)
    answer = client.post("/api/v1/test/get-only/")
    _api_error(answer, 405, "method_not_allowed")
    assert answer["Allow"] == "GET"
    assert client.post("/test/get-only/").status_code == 405  # a page keeps Django's answer


def test_a_refused_csrf_token_is_403_with_the_error_body_on_the_api(signed_in):
    body = _api_error(signed_in.post("/api/v1/test/form/"), 403, "permission_denied")
    assert body["detail"].startswith("CSRF Failed:")


def test_a_refused_csrf_token_through_drf_says_the_same(signed_in, project):
    answer = signed_in.post(
        "/api/v1/projects/shop/releases/", {"version": "1.0.0"}, content_type="application/json"
    )
    body = _api_error(answer, 403, "permission_denied")
    assert body["detail"].startswith("CSRF Failed:")


def test_a_refused_csrf_token_on_a_page_is_the_403_page(signed_in):
    html = _page(signed_in.post("/test/form/"), 403)
    assert "Reload the page and try again." in html


def test_a_404_outside_drf_is_the_error_body_or_the_404_page(signed_in):
    body = _api_error(signed_in.get("/api/v1/test/missing/"), 404, "not_found")
    assert body["detail"] == "That report is gone."
    _page(signed_in.get("/test/missing/"), 404)
    _page(signed_in.get("/no/such/page/"), 404)


def test_a_403_outside_drf_is_the_error_body_or_the_403_page(signed_in):
    body = _api_error(signed_in.get("/api/v1/test/denied/"), 403, "permission_denied")
    assert body["detail"] == "Admins only."
    assert "Admins only." in _page(signed_in.get("/test/denied/"), 403)


def test_an_exception_no_view_handles_is_500_with_the_error_body_or_the_500_page(signed_in):
    _api_error(signed_in.get("/api/v1/test/boom/"), 500, "server_error")
    html = _page(signed_in.get("/test/boom/"), 500)
    assert "a bug" not in html


def test_a_suspicious_request_is_400_with_the_error_body_or_the_400_page(signed_in):
    _api_error(signed_in.get("/api/v1/test/suspicious/"), 400, "bad_request")
    _page(signed_in.get("/test/suspicious/"), 400)


def test_a_suspicious_request_inside_the_api_is_400_and_too_big_is_413():
    client = Client()
    _api_error(client.post("/api/v1/test/drf-suspicious/"), 400, "bad_request")
    _api_error(client.post("/api/v1/test/drf-suspicious/?what=too-big"), 413, "request_too_large")


def test_a_host_not_allowed_is_400_with_the_error_body_or_the_400_page(settings, project, admin):
    settings.ALLOWED_HOSTS = ["preflight.example.com"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {user_token(admin)}", HTTP_HOST="evil.example")
    _api_error(api.get("/api/v1/projects/shop/releases/1.0.0/"), 400, "bad_request")
    _page(Client(HTTP_HOST="evil.example").get("/login/"), 400)
