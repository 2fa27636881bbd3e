"""The API docs under the Content-Security-Policy: Swagger UI with its init script served as a
script of its own, Redoc with a policy that admits its styles by this response's nonce and
nothing more for scripts; both with their assets from drf-spectacular-sidecar."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from api.docs import REDOC_LOGO, REDOC_STYLE_HASHES
from tests.preflight.test_csp import POLICY

pytestmark = pytest.mark.django_db


def _directives_of(policy: str) -> dict[str, str]:
    return dict(part.split(" ", 1) for part in policy.split("; "))


def _directives(answer) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return _directives_of(answer["Content-Security-Policy"])


def _tags(html: str, name: str) -> list[str]:
    return re.findall(rf"<{name}\b[^>]*>", html)


def test_swagger_ui_has_no_inline_script_or_style(
    client: Client, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(0):
        page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    scripts = _tags(html, "script")
    assert len(scripts) == 3
    assert all(" src=" in tag for tag in scripts)
    assert "<style" not in html
    assert " style=" not in html
    assert '<script src="/api/v1/docs/?script=">' in scripts
    assert '/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"' in html
    # The site's policy, and data: images for the icons in Swagger UI's stylesheet.
    assert _directives(page) == {**_directives_of(POLICY), "img-src": "'self' data:"}


def test_swagger_uis_init_script_is_a_script_of_its_own(
    client: Client, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(0):
        script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    body = script.content.decode()
    assert "SwaggerUIBundle({" in body
    assert 'url: "/api/v1/schema/"' in body


def test_redoc_styles_are_admitted_by_the_responses_nonce(
    client: Client, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(0):
        page = client.get("/api/v1/docs/redoc/")
    assert page.status_code == 200
    html = page.content.decode()
    [nonce] = re.findall(r'<script src="/static/js/redoc-init.js" nonce="([^"]+)">', html)
    directives = dict(part.split(" ", 1) for part in page["Content-Security-Policy"].split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == " ".join(["'self'", f"'nonce-{nonce}'", *REDOC_STYLE_HASHES])
    assert directives["img-src"] == f"'self' data: {REDOC_LOGO}"
    assert directives["default-src"] == "'self'"
    assert "<style" not in html
    assert 'data-schema-url="/api/v1/schema/"' in html
    assert "fonts.googleapis.com" not in html
    # A nonce per answer: one seen is no use for the next page.
    assert (
        client.get("/api/v1/docs/redoc/")["Content-Security-Policy"]
        != page["Content-Security-Policy"]
    )
