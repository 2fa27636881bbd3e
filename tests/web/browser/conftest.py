"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

The sync Playwright API runs an event loop in the test's thread, and the tests set up data
with the ORM in that same thread; Django refuses that unless told it is safe, which it is here
(one thread, no async code of ours)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from scripts import chromium

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium.EXECUTABLE,
        "args": chromium.ARGS,
    }


@pytest.fixture
def login(live_server, page):  # type: ignore[no-untyped-def]
    """Log a user in through the login form, as a person would."""

    def do(user, target: str = "/", a_page=None):  # type: ignore[no-untyped-def]
        from tests.web.conftest import PASSWORD, with_password

        with_password(user)
        p = a_page or page
        p.goto(f"{live_server.url}{target}")
        p.get_by_label("Username").fill(user.username)
        p.get_by_label("Password").fill(PASSWORD)
        p.get_by_role("button", name="Log in").click()
        # Keyboard journeys start with the first Tab: it must land on the page logged into.
        p.wait_for_url(lambda url: "/login/" not in url)
        p.wait_for_load_state()
        return p

    return do


class _SlowHandler(BaseHTTPRequestHandler):
    """GET /<milliseconds>/<status>: answers with the status after that long."""

    def do_GET(self) -> None:
        match = re.fullmatch(r"/(\d+)/(\d{3})", self.path)
        if not match:
            self.send_error(404)
            return
        time.sleep(int(match[1]) / 1000)
        body = b"ok"
        self.send_response(int(match[2]))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_service() -> Iterator[str]:
    """A local stand-in for the services http checks call, answering as slowly as asked."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _test_database_url() -> str:
    """DATABASE_URL pointing at the test database pytest-django created."""
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db.get('USER') or 'postgres'}{password}@{host}{port}/{db['NAME']}"


@pytest.fixture
def celery_worker(transactional_db, tmp_path) -> Iterator[subprocess.Popen[bytes]]:  # type: ignore[no-untyped-def]
    """A real Celery worker, a separate process reading the test database and the test Redis.
    Checks run one at a time so a page can watch them arrive."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "preflight.settings.test",
        "DATABASE_URL": _test_database_url(),
        "PREFLIGHT_DB_POOL": "0",
        "PREFLIGHT_CHECK_CONCURRENCY": "1",
        "PREFLIGHT_VAR_DIR": str(tmp_path / "var"),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("celery")),
                "-A",
                "preflight",
                "worker",
                "--pool=threads",
                "--concurrency=2",
                "-n",
                f"browser-test-{os.getpid()}@localhost",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The Celery worker did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
