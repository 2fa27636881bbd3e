"""Every page under the Content-Security-Policy, in a real Chromium: an admin visits each page
the URLconf has (the Liquor POS demo fills in its parameters), the Django admin, the API docs,
the login page and the error pages, and the browser refuses nothing on any of them; htmx still
swaps what it should.

The browser reports each refusal as a ``securitypolicyviolation`` event in the page: an init
script (Playwright's, outside the page and its policy) records them into ``window``. The test
also listens to the console, where Chromium says "Refused to…", and to uncaught errors."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pprint import pformat
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from playwright.sync_api import Page, expect

from backups.models import Database
from checks.models import ManualTick
from demo import loader
from releases.models import Environment, Release
from tests.factories import RunFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # Preflight's URLconf plus views that fail the ways Django answers by itself (400, 403, 404,
    # 500), so the error pages are seen as a browser gets them.
    pytest.mark.urls("tests.preflight.error_urls"),
]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
}, true);
"""

# The URL parameters of the demo's pages, by name; "docs/<name>" names a document instead.
RELEASE, ENVIRONMENT = "1.1.0", "production"
PARAMETERS_OF = {"docs": {"name": "operations.md"}}
# Named URLs not asked for as a signed-in admin, and why.
NOT_ASKED = {
    "login": "a signed-in admin is sent away from it; it is visited signed out, first",
    "metrics": "Prometheus's text for its token, a 404 page while no token is set",
}


@dataclass
class Watch:
    """What the browser said while on the current page."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self, page: Page) -> list[Any]:
        found: list[Any] = list(page.evaluate("window.__violations || []"))
        found += [text for text in self.console if "Content Security Policy" in text]
        found += self.errors
        self.console.clear()
        self.errors.clear()
        return found


@pytest.fixture
def watched(page: Page) -> tuple[Page, Watch]:
    watch = Watch()
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: watch.console.append(message.text))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.set_viewport_size({"width": 1280, "height": 900})
    return page, watch


@pytest.fixture
def demo(live_server) -> str:  # type: ignore[no-untyped-def]
    loader.load(password="unused")  # the login fixture sets the test password
    return str(live_server.url)


def _named_patterns(
    patterns: list[URLPattern | URLResolver], namespace: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # the admin's own pages are sampled below
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_patterns(pattern.url_patterns, inner)
        elif pattern.name:
            yield f"{namespace}{pattern.name}", pattern


def _demo_parameters() -> dict[str, Any]:
    database = Database.objects.get(project__slug=loader.SLUG)
    return {
        "slug": loader.SLUG,
        "project": loader.SLUG,
        "version": RELEASE,
        "env_slug": ENVIRONMENT,
        "name": database.name,
        "database": database.name,
    }


def _pages_of_the_urlconf(client: Client) -> list[str]:
    """Every named URL whose GET is a page: the URLconf's patterns with the demo's parameters,
    each asked once through the test client (a redirect counts as the page it leads to). The
    rest must be something a browser does not render as a page: a POST-only action (405), the
    API's JSON, a CSV export, a text document.
    A pattern with a parameter this test cannot fill in fails here rather than go unvisited."""
    parameters = _demo_parameters()
    pages = []
    for name, pattern in _named_patterns(get_resolver().url_patterns):
        if name in NOT_ASKED:
            continue
        wanted = pattern.pattern.converters.keys()
        given = PARAMETERS_OF.get(name) or {
            key: 1 if key.endswith("id") else parameters[key] for key in wanted
        }
        url = reverse(name, kwargs=given)
        answer = client.get(url)
        html = answer.get("Content-Type", "").startswith("text/html")
        if answer.status_code == 200 and html:
            pages.append(url)
        elif answer.status_code == 302:
            # A panel's URL outside htmx: the page holding it, at the panel.
            pages.append(answer["Location"].partition("#")[0])
        else:
            assert answer.status_code == 405 or not html, (name, url, answer.status_code)
    return list(dict.fromkeys(pages))


def _release_pages() -> list[str]:
    """The release page of every release in every environment: the demo has them verified,
    failed, rolled back, waiting for approvals and never deployed, each drawn differently."""
    return [
        reverse("release", args=[loader.SLUG, release.version, environment.slug])
        for release in Release.objects.filter(project__slug=loader.SLUG).order_by("created_at")
        for environment in Environment.objects.filter(project__slug=loader.SLUG)
    ]


def _admin_pages() -> list[str]:
    environment = Environment.objects.get(project__slug=loader.SLUG, slug=ENVIRONMENT)
    return [
        reverse("admin:index"),
        reverse("admin:releases_environment_changelist"),
        reverse("admin:releases_environment_change", args=[environment.pk]),
        # Date and time widgets, with the admin's calendar and clock scripts.
        reverse("admin:releases_freezewindow_add"),
        reverse("admin:audit_auditevent_changelist"),
    ]


ERROR_PAGES = {
    "/test/suspicious/": 400,
    "/test/denied/": 403,
    "/test/missing/": 404,
    "/no/such/page/": 404,
    "/test/boom/": 500,
}


def _log_in(page: Page, base: str, username: str) -> None:
    from tests.web.conftest import PASSWORD, with_password

    with_password(get_user_model().objects.get(username=username))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def _visit(page: Page, url: str) -> int:
    answer = page.goto(url, wait_until="networkidle")
    assert answer is not None
    if "/api/v1/docs/redoc/" in url:
        expect(page.locator("h1", has_text="Preflight API")).to_be_visible()
    elif "/api/v1/docs/" in url:
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Preflight API")
        expect(page.locator(".opblock").first).to_be_visible()
    return answer.status


def test_no_page_breaks_the_content_security_policy(watched, demo, caplog) -> None:  # type: ignore[no-untyped-def]
    page, watch = watched
    caplog.set_level(logging.WARNING, logger="preflight.csp")
    admin = get_user_model().objects.get(username="admin")
    client = Client()
    client.force_login(admin)
    pages = _pages_of_the_urlconf(client)
    # The list comes from the URLconf; these must be on it, or the walk above missed them.
    for name, kwargs in {
        "overview": {},
        "project": {"slug": loader.SLUG},
        "release": {"slug": loader.SLUG, "version": RELEASE, "env_slug": ENVIRONMENT},
        "release-report": {"slug": loader.SLUG, "version": RELEASE, "env_slug": ENVIRONMENT},
        "deployments": {"slug": loader.SLUG},
        "backups": {"slug": loader.SLUG},
        "audit-log": {"slug": loader.SLUG},
        "api:docs": {},
        "api:redoc": {},
    }.items():
        assert reverse(name, kwargs=kwargs) in pages, name

    problems: dict[str, Any] = {}
    assert _visit(page, f"{demo}{reverse('login')}") == 200
    problems["login"] = watch.problems(page)
    _log_in(page, demo, "admin")
    problems["after logging in"] = watch.problems(page)

    every = list(dict.fromkeys([*pages, *_release_pages(), *_admin_pages()]))
    assert len(every) > len(pages) + 15
    for url in every:
        assert _visit(page, f"{demo}{url}") == 200, url
        problems[url] = watch.problems(page)
    for url, status in ERROR_PAGES.items():
        assert _visit(page, f"{demo}{url}") == status, url
        problems[url] = watch.problems(page)

    refused = {url: found for url, found in problems.items() if found}
    assert refused == {}, pformat(refused)
    assert len(problems) == len(every) + len(ERROR_PAGES) + 2
    assert [r.getMessage() for r in caplog.records if r.name == "preflight.csp"] == []


def test_htmx_swaps_polls_and_posts_under_the_policy(watched, demo) -> None:  # type: ignore[no-untyped-def]
    """A filter swapping a list, a running readiness run polling its page (with its progress
    bar), and a checklist tick posted with the CSRF header from <body>'s hx-headers."""
    page, watch = watched
    page.goto(f"{demo}{reverse('login')}")
    _log_in(page, demo, "admin")
    page.goto(f"{demo}{reverse('deployments', args=[loader.SLUG])}", wait_until="networkidle")
    everything = page.locator(".timeline-item").count()
    assert everything > 0
    # Marks this document: a full page load would lose it, an htmx swap keeps it.
    page.evaluate("window.__sameDocument = true")

    page.select_option("#id_environment", ENVIRONMENT)
    page.wait_for_url(f"**/deployments/?*environment={ENVIRONMENT}*")
    page.wait_for_function(f"document.querySelectorAll('.timeline-item').length < {everything}")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("h2#metrics-title")).to_have_text(
        f"Delivery metrics · {ENVIRONMENT.title()}"
    )
    assert watch.problems(page) == []

    release = Release.objects.get(project__slug=loader.SLUG, version=RELEASE)
    development = Environment.objects.get(project__slug=loader.SLUG, slug="development")
    RunFactory(release=release, environment=development, status="running", finished_at=None)
    page.goto(f"{demo}{reverse('release', args=[loader.SLUG, RELEASE, 'development'])}")
    expect(page.locator("progress.progress")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    swapped = "new Promise(done => document.body.addEventListener('htmx:afterSwap', () => done(true), {once: true}))"
    assert page.evaluate(swapped) is True  # the next poll's answer, swapped in
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("progress.progress")).to_be_visible()
    assert watch.problems(page) == []

    page.goto(f"{demo}{reverse('release', args=[loader.SLUG, RELEASE, ENVIRONMENT])}")
    page.evaluate("window.__sameDocument = true")
    unticked = page.locator("#checklists .tick-list > li").filter(
        has=page.locator("summary", has_text=re.compile(r"^Tick "))
    )
    # By its id: once ticked, its summary says "Untick".
    item = page.locator(f"#{unticked.first.get_attribute('id')}")
    code = item.locator("summary").inner_text().removeprefix("Tick ").strip()
    ticks = ManualTick.objects.count()
    item.locator("summary").click()
    item.get_by_role("button", name="Mark done").click()
    expect(item.get_by_role("status")).to_have_text(f"{code} ticked.")
    assert page.evaluate("window.__sameDocument") is True
    assert ManualTick.objects.count() == ticks + 1
    assert watch.problems(page) == []


def test_a_refusal_is_seen_by_the_test_and_reported_to_the_server(watched, demo, caplog) -> None:  # type: ignore[no-untyped-def]
    """The two tests above can fail: an inline style is refused, the event recorded, and the
    browser's report reaches /csp-report, which logs it."""
    page, watch = watched
    caplog.set_level(logging.WARNING, logger="preflight.csp")
    page.goto(f"{demo}{reverse('login')}", wait_until="networkidle")
    assert watch.problems(page) == []

    page.evaluate("document.body.setAttribute('style', 'outline: 3px solid red')")
    page.wait_for_function("window.__violations.length > 0")
    violations = page.evaluate("window.__violations")
    assert [v["directive"] for v in violations] == ["style-src-attr"]
    assert [text for text in watch.console if "Content Security Policy" in text]

    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if r.name == "preflight.csp"]:
        assert time.monotonic() < deadline, "the browser's report never reached /csp-report"
        time.sleep(0.1)
    [message] = [r.getMessage() for r in caplog.records if r.name == "preflight.csp"]
    assert "directive='style-src-attr'" in message
    assert f"document='{demo}/login/'" in message
