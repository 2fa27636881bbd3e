"""A scripted stand-in for Preflight's API on a real socket, for the client's own tests: each
request takes the next scripted answer for its path and is recorded (method, path, headers,
body). ``drop`` closes the connection without answering, as a crashed proxy would."""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeApi:
    def __init__(self) -> None:
        self.answers: dict[str, deque[Any]] = defaultdict(deque)
        self.seen: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                route = self.path.split("?")[0]
                queue = fake.answers.get(route)
                if not queue:
                    answer: Any = (599, {"code": "unscripted", "detail": self.path}, {})
                else:
                    answer = queue.popleft() if len(queue) > 1 else queue[0]
                if answer == DROP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, body, headers = answer
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def script(self, route: str, *answers: Any) -> None:
        """Answers for ``route`` (a path under /api/v1), in order; the last one repeats.
        Each is DROP or (status, body) or (status, body, headers)."""
        for answer in answers:
            if answer != DROP and len(answer) == 2:
                answer = (*answer, {})
            self.answers["/api/v1" + route].append(answer)

    def requests_to(self, route: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("?")[0] == "/api/v1" + route]

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
