"""How Preflight drives Debian's Chromium through Playwright (no browser download): the browser
tests and the README's screenshots launch it alike."""

from __future__ import annotations

EXECUTABLE = "/usr/bin/chromium"
# Headless in containers and CI: no sandbox (no user namespaces), no GPU, and nothing that
# reaches out to the network on its own.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
