"""The Content-Security-Policy: on every answer of every URL pattern (the URLconf walked as
tests/preflight/test_limits.py walks it), on the request guard's refusals, error pages, static
files and probes; htmx configured not to evaluate anything; no template with inline script,
style or handlers; and /csp-report, where browsers report what the policy refused."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from backups.models import Database

from ..api.conftest import user_token
from ..factories import DeploymentFactory
from .test_limits import ENDPOINTS

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.preflight.error_urls")]

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'; report-uri /csp-report"
)
# The API docs add to it (api/docs.py, tests/api/test_docs.py).
DOCS = ("/api/v1/docs/", "/api/v1/docs/redoc/")


def _policy_of(answer) -> str:  # type: ignore[no-untyped-def]
    where = (
        f"{answer.request['REQUEST_METHOD']} {answer.request['PATH_INFO']} ({answer.status_code})"
    )
    assert "Content-Security-Policy" in answer, where
    return str(answer["Content-Security-Policy"])


@pytest.fixture
def clients(project, admin, release, environments):  # type: ignore[no-untyped-def]
    """The admin signed in for pages (and the Django admin), their token for the API."""
    admin.is_staff = admin.is_superuser = True
    admin.save()
    DeploymentFactory(release=release, environment=environments["production"])
    Database.objects.create(project=project, name="pos", dsn_env="POS_DATABASE_URL")
    pages = Client(raise_request_exception=False)
    pages.force_login(admin)
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {user_token(admin)}")
    return {"pages": pages, "api": api, "anonymous": Client(raise_request_exception=False)}


def test_every_answer_of_every_url_pattern_carries_the_policy(clients) -> None:  # type: ignore[no-untyped-def]
    statuses = set()
    for endpoint in ENDPOINTS:
        path = endpoint.path()
        signed_in = clients["api"] if endpoint.is_api else clients["pages"]
        answers = [signed_in.get(path), clients["anonymous"].get(path)]
        if not path.startswith("/admin/"):
            answers.append(signed_in.post(path))
        for answer in answers:
            statuses.add(answer.status_code)
            if path in DOCS:
                assert _policy_of(answer).startswith("default-src 'self'; script-src 'self'; ")
            else:
                assert _policy_of(answer) == POLICY
    # The walk reached pages, redirects to the login, refusals and errors alike.
    assert {200, 302, 400, 401, 404, 405} <= statuses


def test_refusals_error_pages_static_files_and_probes_carry_the_policy(clients) -> None:  # type: ignore[no-untyped-def]
    pages = clients["pages"]
    limit = settings.PREFLIGHT_MAX_REQUEST_BYTES
    answers = {
        413: pages.post("/", data=b"x", content_type="text/plain", CONTENT_LENGTH=str(limit + 1)),
        400: pages.get("/", {"q": "\x00"}),
        404: pages.get("/no/such/page/"),
        403: pages.get("/test/denied/"),
        500: pages.get("/test/boom/"),
        200: pages.get("/static/css/preflight.css"),
    }
    for status, answer in answers.items():
        assert answer.status_code == status
        assert _policy_of(answer) == POLICY
    assert _policy_of(clients["anonymous"].get("/health/live")) == POLICY


def test_htmx_evaluates_nothing_and_injects_no_style(clients) -> None:  # type: ignore[no-untyped-def]
    html = clients["pages"].get("/").content.decode()
    [content] = re.findall(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    config = json.loads(content)
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False


# What a strict policy refuses in markup: inline style, <style>, inline <script>, event handler
# attributes (onclick=…), htmx's handlers (hx-on…), javascript: URLs.
INLINE = re.compile(
    r"\sstyle\s*=|<style\b|<script\b(?![^>]*\bsrc=)|\son[a-z]+\s*=|\shx-on|javascript:",
    re.IGNORECASE,
)
# The readiness review as one file for the command line: never served, opened from disk.
NOT_SERVED = {"checks/report.html"}


def test_no_template_has_inline_script_style_or_handlers() -> None:
    root = Path(settings.BASE_DIR) / "templates"
    templates = sorted(root.rglob("*.html"))
    assert len(templates) > 20
    found = []
    for template in templates:
        name = template.relative_to(root).as_posix()
        if name in NOT_SERVED:
            continue
        # Comments may name what they avoid.
        text = re.sub(
            r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", template.read_text(), flags=re.S
        )
        found += [f"{name}: {match[0]!r}" for match in INLINE.finditer(text)]
    assert found == []


def test_the_pattern_finds_what_the_policy_refuses() -> None:
    for markup in (
        '<p style="color: red">',
        "<style>p {}</style>",
        "<script>alert(1)</script>",
        '<button onclick="go()">',
        '<form hx-on::after-request="go()">',
        '<a href="javascript:go()">',
    ):
        assert INLINE.search(markup), markup
    assert not INLINE.search('<script src="/static/js/preflight.js" defer></script>')
    assert not INLINE.search('<button data-print class="primary">')


# /csp-report


def _report(**fields: object) -> dict[str, object]:
    return {
        "csp-report": {
            "document-uri": "https://preflight.example.com/projects/shop/",
            "effective-directive": "style-src-attr",
            "violated-directive": "style-src-attr",
            "blocked-uri": "inline",
            "source-file": "https://preflight.example.com/projects/shop/",
            "line-number": 12,
            "disposition": "enforce",
            **fields,
        }
    }


def _post(client: Client, body: object, content_type: str = "application/csp-report"):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/csp-report", data=data, content_type=content_type)


def _logged(caplog) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.getMessage() for r in caplog.records if r.name == "preflight.csp"]


def test_a_report_is_logged_without_a_session_or_csrf_token(
    caplog, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="preflight.csp")
    client = Client(enforce_csrf_checks=True)
    with django_assert_num_queries(0):
        answer = _post(client, _report())
    assert answer.status_code == 204
    assert _logged(caplog) == [
        "Content-Security-Policy violation: "
        "document='https://preflight.example.com/projects/shop/' directive='style-src-attr' "
        "blocked='inline' source='https://preflight.example.com/projects/shop/' line='12' "
        "disposition='enforce'"
    ]


def test_a_batch_from_the_reporting_api_is_logged_up_to_ten_violations(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="preflight.csp")
    violation = {
        "type": "csp-violation",
        "body": {
            "documentURL": "https://preflight.example.com/",
            "effectiveDirective": "script-src-elem",
            "blockedURL": "inline",
            "sample": "alert(1)",
        },
    }
    batch = [{"type": "deprecation", "body": {"id": "x"}}] + [violation] * 12
    assert _post(Client(), batch, "application/reports+json").status_code == 204
    logged = _logged(caplog)
    assert len(logged) == 10
    assert "directive='script-src-elem'" in logged[0]
    assert "sample='alert(1)'" in logged[0]


def test_what_a_report_says_is_cut_short_and_quoted(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="preflight.csp")
    long = "https://evil.example/" + "a" * 2000
    _post(Client(), _report(**{"blocked-uri": long, "script-sample": "x\nFAKE LOG LINE"}))
    [line] = _logged(caplog)
    assert "\n" not in line
    assert "sample='x\\nFAKE LOG LINE'" in line
    assert f"blocked='{long[:300]}'" in line
    assert len(line) < 1000


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(_report(), "text/plain", 415, id="not-a-report-type"),
        pytest.param(b"{not json", "application/csp-report", 400, id="not-json"),
        pytest.param({"report": {}}, "application/csp-report", 400, id="neither-format"),
        pytest.param(_report(pad="x" * 17_000), "application/csp-report", 413, id="too-large"),
    ],
)
def test_what_is_not_a_report_is_refused_and_not_logged(caplog, body, content_type, status) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="preflight.csp")
    assert _post(Client(), body, content_type).status_code == status
    assert _logged(caplog) == []


def test_reports_are_posted(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/csp-report").status_code == 405
