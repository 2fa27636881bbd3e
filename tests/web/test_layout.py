from __future__ import annotations

import pytest

from .conftest import with_password

pytestmark = pytest.mark.django_db


def test_pages_need_login(client, project):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_health_probes_need_no_login(client):
    assert client.get("/health/live").status_code == 200


def test_the_api_is_not_sent_to_the_login_page(client):
    # The API authenticates itself; an unknown API path is a 404, never a login redirect.
    assert client.get("/api/v1/nothing-here").status_code == 404


def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_logging_in_goes_to_the_overview(client, viewer):
    with_password(viewer)
    response = client.post("/login/", {"username": "vic", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_wrong_password_shows_an_error(client, viewer):
    with_password(viewer)
    response = client.post("/login/", {"username": "vic", "password": "nope"})
    assert response.status_code == 200
    assert b"do not match" in response.content


def test_logout_needs_post(client_of, viewer):
    client = client_of(viewer)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_layout_carries_csrf_header_and_local_htmx(client_of, viewer):
    html = client_of(viewer).get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/django_htmx/htmx-2" in html
    # Every script and stylesheet is served by Preflight itself (the CSRF token is random text,
    # so look only at the addresses of what the page loads).
    import re

    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded
    assert all(not url.startswith(("http:", "https:", "//")) for url in loaded), loaded


def test_switcher_lists_only_the_users_projects(client_of, viewer):
    from tests.factories import ProjectFactory

    ProjectFactory(slug="secret", name="Secret Project")
    html = client_of(viewer).get("/").content.decode()
    assert "Shop" in html
    assert "Secret Project" not in html


def test_outsider_gets_404_for_a_project(client_of, outsider, project):
    assert client_of(outsider).get(f"/projects/{project.slug}/").status_code == 404


def test_unknown_project_is_404_too(client_of, viewer):
    assert client_of(viewer).get("/projects/nope/").status_code == 404


def test_an_htmx_request_without_a_session_sends_the_window_to_login(client, project):
    response = client.get("/projects/shop/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")


def test_failed_logins_are_throttled_per_address(client, viewer, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "3/min",
        },
    }
    with_password(viewer)
    for _ in range(3):
        assert client.post("/login/", {"username": "vic", "password": "nope"}).status_code == 200
    # Past the rate even the right password is refused, so guessing learns nothing.
    refused = client.post("/login/", {"username": "vic", "password": "pw"})
    assert refused.status_code == 429
    assert b"Too many failed logins" in refused.content
    assert "_auth_user_id" not in client.session
    cache.clear()
    assert client.post("/login/", {"username": "vic", "password": "pw"}).status_code == 302
