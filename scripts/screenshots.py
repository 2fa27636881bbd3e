"""Screenshots of the main pages, for the README: run against a server with the demo loaded.

    make run                                   # in one terminal
    .venv/bin/python -m scripts.screenshots    # in another; writes docs/screenshots/*.png

Uses Debian's Chromium through Playwright (no browser download)."""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from scripts import chromium

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
RELEASE = "/projects/liquor-pos/releases/1.0.0/production/"
SHOTS = (
    # file, path, viewport, whole page
    ("overview.png", "/", DESKTOP, True),
    ("overview-phone.png", "/", PHONE, True),
    ("pipeline.png", "/projects/liquor-pos/", DESKTOP, True),
    ("pipeline-phone.png", "/projects/liquor-pos/", PHONE, False),
    # The release page's first screen is the decision: the verdict, its reasons, the action.
    ("release-desktop.png", RELEASE, DESKTOP, False),
    ("release-phone.png", RELEASE, PHONE, False),
    ("timeline.png", "/projects/liquor-pos/deployments/", DESKTOP, True),
    ("timeline-phone.png", "/projects/liquor-pos/deployments/", PHONE, False),
    ("audit.png", "/projects/liquor-pos/audit/", DESKTOP, True),
    ("backups.png", "/projects/liquor-pos/backups/", DESKTOP, True),
    # The review runs to many printed pages: its first screen says what it is.
    ("report.png", RELEASE + "report", {"width": 1366, "height": 1300}, False),
)


def logged_in(
    browser: Browser, base: str, user: str, password: str, viewport: dict[str, int]
) -> Page:
    page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="ana")
    parser.add_argument("--password", default="preflight-demo")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium.EXECUTABLE, args=chromium.ARGS
        )
        for name, path, viewport, full in SHOTS:
            page = logged_in(browser, base, args.user, args.password, viewport)
            page.goto(f"{base}{path}")
            page.screenshot(path=str(OUT / name), full_page=full)
            page.close()
            print(f"wrote {OUT / name}")
        browser.close()


if __name__ == "__main__":
    main()
