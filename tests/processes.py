"""Preflight's own processes, started as ``make run`` starts them (the Procfile's command lines),
for tests that need a real server and worker on databases and brokers of their own."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent


def procfile_command(name: str, port: int = 0) -> list[str]:
    line = next(
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    return shlex.split(line.replace("$PORT", str(port)))


def environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """``make run``'s environment (local settings, the virtualenv first on PATH), with
    DATABASE_URL / REDIS_URL only when given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PREFLIGHT_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="preflight.settings.local",
        DEBUG="false",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    token: str = "",
    body: object = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120,
) -> Answer:
    """One HTTP request on a connection of its own. A dropped connection raises."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    sent = {"Accept": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return Answer(
            response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
        )
    finally:
        conn.close()


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        started = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield started
        finally:
            started.terminate()
            try:
                started.wait(timeout=30)
            except subprocess.TimeoutExpired:
                started.kill()
                started.wait()


@contextmanager
def web(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The Procfile's web process, once it answers /health/live."""
    with process(procfile_command("web", port), env, log) as server:
        deadline = time.monotonic() + 90
        while True:
            try:
                if call(port, "GET", "/health/live", timeout=5).status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the server did not start: {log.read_text()}"
            time.sleep(0.2)
        yield server


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The Procfile's worker process, once it is ready."""
    with process(procfile_command("worker"), env, log) as started:
        deadline = time.monotonic() + 90
        while b" ready." not in log.read_bytes():
            assert started.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the worker did not start: {log.read_text()}"
            time.sleep(0.2)
        yield started
