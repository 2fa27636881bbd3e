"""axe-core (the bundle axe-playwright-python ships) on every page, at a desktop's and a phone's
width, against a live server holding the Liquor POS demo: no serious or critical violation."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model

from demo import loader

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RELEASE = "/projects/liquor-pos/releases/1.0.0/"
PAGES = [
    "/",
    "/projects/liquor-pos/",
    RELEASE + "production/",
    RELEASE + "staging/",
    RELEASE + "development/",
    "/projects/liquor-pos/releases/0.9.1/production/",
    "/projects/liquor-pos/deployments/",
    "/projects/liquor-pos/audit/",
    "/audit/",
    "/projects/liquor-pos/backups/",
    RELEASE + "production/report",
]
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
BLOCKING = {"serious", "critical"}


def _blocking(results) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(", ".join(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def demo(live_server) -> str:  # type: ignore[no-untyped-def]
    loader.load(password="unused")  # the login fixture sets each user's test password
    return str(live_server.url)


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_has_a_serious_or_critical_accessibility_violation(
    page, demo, login, width
) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(WIDTHS[width])
    axe = Axe()
    page.goto(f"{demo}/login/")
    found = {"/login/": _blocking(axe.run(page))}
    login(get_user_model().objects.get(username="ana"))
    page.wait_for_url(f"{demo}/")
    for path in PAGES:
        page.goto(f"{demo}{path}")
        page.wait_for_load_state("networkidle")
        found[path] = _blocking(axe.run(page))
    failing = {path: problems for path, problems in found.items() if problems}
    assert not failing, "\n".join(
        f"{path}:\n  " + "\n  ".join(problems) for path, problems in failing.items()
    )


def test_the_check_finds_what_it_looks_for(page) -> None:  # type: ignore[no-untyped-def]
    """The same check on a page with a nameless button and an unlabelled field fails."""
    page.set_content(
        '<html lang="en"><title>t</title><main><button></button><input type="text"></main></html>'
    )
    problems = _blocking(Axe().run(page))
    assert any(p.startswith("button-name (critical)") for p in problems), problems
    assert any(p.startswith("label (critical)") for p in problems), problems
