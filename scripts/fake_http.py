"""A local HTTP server standing in for the services ``http`` checks probe, for tests and
benchmarks: real sockets, real HTTP, answers chosen by the path.

    (a query string is ignored, so ?1, ?2 make distinct URLs of one endpoint)
    /ok                 200 "ok"
    /status/<code>      that status, body "status <code>"
    /sleep/<seconds>    waits, then 200 "slept"
    /json               200 with a small JSON document (see DOCUMENT)
    /redirect?to=URL    302 to URL
    /auth               200 if the Authorization header is "Bearer <FakeHTTPServer.token>", else 401

Every request's path and headers are kept in ``requests`` so a test can see what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scripts.throwaway import Server

DOCUMENT = {"status": "ok", "database": {"up": True, "lag": 0}, "workers": [{"name": "w1"}]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a run opens up to PREFLIGHT_CHECK_CONCURRENCY connections at once
    token = "s3cret-token"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a check's timeout) is expected, not news


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read ``requests`` instead

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers.items())))
        address = urlsplit(self.path)
        parts = address.path.strip("/").split("/")
        if parts[0] == "ok":
            self._answer(200, b"ok")
        elif parts[0] == "status" and len(parts) == 2:
            self._answer(int(parts[1]), f"status {parts[1]}".encode())
        elif parts[0] == "sleep" and len(parts) == 2:
            time.sleep(float(parts[1]))
            self._answer(200, b"slept")
        elif parts[0] == "json":
            self._answer(200, json.dumps(DOCUMENT).encode(), "application/json")
        elif parts[0] == "auth":
            if self.headers.get("Authorization") == f"Bearer {self.server.token}":
                self._answer(200, b"welcome")
            else:
                self._answer(401, b"who are you")
        elif parts[0] == "redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(address.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(404, b"not found")

    do_HEAD = do_GET
    do_POST = do_GET
    do_OPTIONS = do_GET


class FakeHTTPServer(Server):
    """Started with ``with FakeHTTPServer() as server:``; ``server.url("/ok")`` is an address."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def token(self) -> str:
        return self._server.token

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self._server.requests

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
