"""The production web server as the image runs it: gunicorn with preflight/gunicorn.conf.py and
production settings, two workers that restart every few requests. One scrape adds up the counts
of every worker process, dead ones included; every line on stderr is one JSON object, and each
request, refused ones too, has exactly one, with its request id."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from scripts.prometheus_server import PrometheusServer

from ..checks.conftest import subprocess_env
from .helpers import TOKEN, parse, value

# A real server in a subprocess, on the test database (which the mark has created).
pytestmark = [pytest.mark.worker, pytest.mark.django_db]

BIN = Path(sys.executable).parent
# Each worker exits after this many requests and gunicorn starts another: a run of requests is
# served by several processes, one after the other.
MAX_REQUESTS = 3


@dataclass
class Server:
    url: str
    stderr: Path
    metrics_dir: Path

    def get(self, path: str, **headers: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as answered:
            return answered.code, answered.read()

    def lines(self) -> list[str]:
        return [line for line in self.stderr.read_text().splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    var = tmp_path_factory.mktemp("var")
    port = _free_port()
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="preflight.settings.production",
        SECRET_KEY="production-test-" + uuid.uuid4().hex + uuid.uuid4().hex,
        PREFLIGHT_AUDIT_ANCHOR_KEY="anchor-test-" + uuid.uuid4().hex + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        PREFLIGHT_VAR_DIR=str(var),
        PREFLIGHT_METRICS_TOKEN=TOKEN,
        PORT=str(port),
        LOG_LEVEL="INFO",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("PREFLIGHT_LOG_FORMAT", None)
    # As the image's build does: production serves static files from the collected manifest.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    stderr = var / "gunicorn.stderr"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "preflight.wsgi",
                "--config",
                "preflight/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--max-requests",
                str(MAX_REQUESTS),
                "--max-requests-jitter",
                "0",
                # Other servers on this machine keep theirs in the same home directory.
                "--no-control-socket",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    running = Server(f"http://127.0.0.1:{port}", stderr, var / "prometheus" / "web")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if running.get("/health/live")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{stderr.read_text()}")
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)


def scrape(server: Server) -> str:
    status, body = server.get("/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200, body
    return body.decode()


def test_one_scrape_adds_up_every_worker_process(server: Server) -> None:
    requests = 4 * MAX_REQUESTS
    for _ in range(requests):
        assert server.get("/health/ready")[0] == 200
    samples = parse(scrape(server))
    ready = {"route": "health-ready", "method": "GET", "status": "200"}
    # Every request counted once, though no process served more than MAX_REQUESTS of them.
    assert value(samples, "preflight_http_requests_total", **ready) == requests
    # ...and they were: more processes counted than the two workers alive at any one time.
    served_by = {p.stem.rsplit("_", 1)[1] for p in server.metrics_dir.glob("counter_*.db")}
    assert len(served_by) >= requests // MAX_REQUESTS > 2


def test_the_real_server_refuses_a_scrape_without_the_token(server: Server) -> None:
    assert server.get("/metrics")[0] == 401
    assert server.get("/metrics", Authorization="Bearer not-the-token-at-all")[0] == 401


def _lines_of(server: Server, rid: str) -> list[dict]:
    # Each worker writes its lines as they come; give the last one a moment to land.
    deadline = time.monotonic() + 10
    while True:
        found = [json.loads(line) for line in server.lines() if rid in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_every_line_on_stderr_is_one_json_object(server: Server) -> None:
    server.get("/health/ready")
    lines = server.lines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line


@pytest.mark.parametrize(
    ("path", "headers", "status", "route", "project"),
    [
        ("/api/v1/projects/shop/releases/", {}, 401, "api:releases", "shop"),
        ("/no/such/page", {}, 404, "unresolved", "-"),
        ("/api/v1/projects/shop/releases/", {"Host": "evil.example"}, 400, "unresolved", "-"),
    ],
)
def test_a_refused_request_logs_one_json_line_with_its_request_id_and_no_traceback(
    server: Server, path: str, headers: dict[str, str], status: int, route: str, project: str
) -> None:
    rid = f"obs-{uuid.uuid4().hex}"
    assert server.get(path, **{"X-Request-ID": rid, **headers})[0] == status
    lines = _lines_of(server, rid)
    assert len(lines) == 1, lines
    (line,) = lines
    assert line["request_id"] == rid
    assert line["logger"] == "preflight.request"
    assert line["level"] == "WARNING"
    assert line["status"] == status
    assert line["route"] == route
    assert line["project"] == project
    assert line["path"] == path
    assert "exc_info" not in line
    tracebacks = [line for line in server.lines() if "Traceback" in line]
    assert not tracebacks, tracebacks
    if status == 400:
        assert "Invalid HTTP_HOST header" in line["refusal"]


def test_an_answered_request_names_its_actor(server: Server) -> None:
    rid = f"obs-{uuid.uuid4().hex}"
    assert server.get("/api/v1/projects/shop/releases/", **{"X-Request-ID": rid})[0] == 401
    (line,) = _lines_of(server, rid)
    assert line["actor"] == "anonymous"


def _documented(name: str) -> str:
    """The YAML block of docs/operations.md that starts with ``# name``."""
    text = (Path(settings.BASE_DIR) / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return next(block for block in blocks if block.startswith(f"# {name}\n"))


def test_the_documented_scrape_config_and_alert_rules_work_in_a_real_prometheus(
    server: Server,
) -> None:
    config = yaml.safe_load(_documented("prometheus.yml"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    web, worker = jobs["preflight-web"], jobs["preflight-worker"]
    # The worker's port answers like the web one (test_worker.py): the same job but its target.
    assert {k: v for k, v in worker.items() if k not in ("job_name", "static_configs")} == {
        k: v for k, v in web.items() if k not in ("job_name", "static_configs")
    }
    # As documented, but scraped every second, at this server, with the token file beside it.
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    web["static_configs"] = [{"targets": [server.url.removeprefix("http://")]}]
    web["authorization"]["credentials_file"] = "preflight_metrics_token"
    config["scrape_configs"] = [web]
    rules = _documented("preflight-rules.yml")
    with PrometheusServer(
        config=yaml.safe_dump(config),
        files={"preflight-rules.yml": rules, "preflight_metrics_token": TOKEN},
    ) as prometheus:
        deadline = time.monotonic() + 30
        while True:
            targets = prometheus.api("targets")["activeTargets"]
            groups = prometheus.api("rules")["groups"]
            evaluated = [r for g in groups for r in g["rules"] if r["health"] != "unknown"]
            if (
                targets
                and targets[0]["health"] == "up"
                and prometheus.query("preflight_state_up")
                and len(evaluated) == 3
            ):
                break
            assert time.monotonic() < deadline, (
                [(t["health"], t["lastError"]) for t in targets],
                [(r["name"], r["health"]) for g in groups for r in g["rules"]],
            )
            time.sleep(0.5)
    assert [rule["name"] for rule in evaluated] == [
        "PreflightBackupStale",
        "PreflightRestoreDrillFailing",
        "PreflightAuditChainUnverified",
    ]
    assert all(rule["health"] == "ok" for rule in evaluated), evaluated
