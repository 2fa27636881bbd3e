"""Sentry: off unless SENTRY_DSN is set; when on, an error's event reaches the DSN's server (a
local fake here) without a token, cookie or password in it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from django.conf import settings

from preflight.observability.sentry import FILTERED, scrub

from ..checks.conftest import subprocess_env

SECRETS = (
    "pf_tokenvalue123456",
    "pf_querytoken98765",
    "sess-value-1234",
    "csrf-value-5678",
    "hunter2pass",
)


class FakeSentry:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                sink.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    fake = FakeSentry()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_sentry_is_off_without_a_dsn() -> None:
    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()


@pytest.mark.django_db
def test_an_error_reaches_sentry_with_its_secrets_scrubbed(fake_sentry: FakeSentry) -> None:
    script = textwrap.dedent(
        """
        import io, wsgiref.util
        import sentry_sdk
        from django.core.wsgi import get_wsgi_application
        from django.test.utils import override_settings
        app = get_wsgi_application()  # the handler gunicorn calls, as Sentry sees it there
        assert sentry_sdk.get_client().is_active()
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/api/v1/test/boom/",
            "QUERY_STRING": "token=pf_querytoken98765&page=2&dsn=postgres://u:hunter2pass@db/x",
            "HTTP_AUTHORIZATION": "Bearer pf_tokenvalue123456",
            "HTTP_COOKIE": "sessionid=sess-value-1234; csrftoken=csrf-value-5678",
            "SERVER_NAME": "127.0.0.1",
            "wsgi.input": io.BytesIO(b""),
        }
        wsgiref.util.setup_testing_defaults(environ)
        statuses = []
        with override_settings(ROOT_URLCONF="tests.preflight.error_urls"):
            b"".join(app(environ, lambda status, headers, *_: statuses.append(status)))
        assert statuses[0].startswith("500"), statuses
        sentry_sdk.flush(10)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=subprocess_env(SENTRY_DSN=fake_sentry.dsn, SENTRY_ENVIRONMENT="test"),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    sent = b"\n".join(fake_sentry.bodies).decode()
    # The error itself went out.
    assert "a bug" in sent
    assert "RuntimeError" in sent
    events = [json.loads(line) for line in sent.splitlines() if '"exception"' in line]
    assert events, sent[:2000]
    request = events[0]["request"]
    assert request["headers"]["Authorization"] == FILTERED
    assert "page=2" in request["query_string"]
    for secret in SECRETS:
        assert secret not in sent, secret


def test_scrub_removes_credentials_wherever_they_are() -> None:
    event = {
        "request": {
            "url": "https://user:hunter2pass@preflight.example/x",
            "headers": {
                "Authorization": "Bearer pf_tokenvalue123456",
                "Cookie": "sessionid=sess-value-1234",
                "X-CSRFToken": "csrf-value-5678",
                "webhook-signature": "v1,abc",
                "Accept": "application/json",
            },
            "cookies": {"sessionid": "sess-value-1234"},
            "query_string": "token=pf_querytoken98765&page=2",
            "data": {"password": "hunter2pass", "note": "fine"},
            "env": {"REMOTE_ADDR": "10.0.0.1"},
        },
        "exception": {
            "values": [{"value": "could not connect to postgres://app:hunter2pass@db/preflight"}]
        },
        "breadcrumbs": {"values": [{"message": "sent Authorization: Bearer pf_tokenvalue123456"}]},
    }
    cleaned = scrub(event)  # type: ignore[arg-type]
    text = json.dumps(cleaned)
    for secret in SECRETS:
        assert secret not in text, secret
    request = cleaned["request"]
    assert request["headers"]["Accept"] == "application/json"
    assert request["data"]["note"] == "fine"
    assert "page=2" in request["query_string"]
    assert "env" not in request
