"""Throughput of the gate endpoint against /health/live, on the same server in the same run.

    .venv/bin/python -m benchmarks.api [--seconds 10] [--rounds 3] [--connections 8] [--workers 2]

Starts throwaway PostgreSQL and Redis (scripts/throwaway.py), migrates, loads the Liquor POS
demo, issues a service token, and serves Preflight with gunicorn (sync workers, production
settings). Then wrk drives each URL in turn with the same connections for the same time, in
rounds that alternate the two: /health/live is the baseline (no database, no auth), the gate
endpoint answers the CI question for the demo's 1.1.0 → production as a pipeline polls it (the
token, the throttle, the gate's answer). Prints the median rates and their ratio; the target is
a ratio of at least 0.5. Falls back to a Python thread-pool client when wrk is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scripts.throwaway import PostgresServer, RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TARGET_RATIO = 0.5
GATE = "/api/v1/projects/liquor-pos/releases/1.1.0/gate/?environment=production"


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "preflight.settings.production",
        "SECRET_KEY": "benchmark-" + "k" * 50,
        "PREFLIGHT_AUDIT_ANCHOR_KEY": "benchmark-anchor-" + "a" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # The benchmark is one client hammering one token; the throttle still runs, unreached.
        "PREFLIGHT_API_TOKEN_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _wait_until_up(url: str) -> None:
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"benchmark: the server did not come up at {url}")


def _wrk(url: str, token: str | None, seconds: int, connections: int) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        sys.exit(f"benchmark: {non_2xx.group(1)} failed answers from {url}:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        sys.exit(f"benchmark: could not read wrk's output:\n{output}")
    return float(match.group(1))


def _threads(url: str, token: str | None, seconds: int, connections: int) -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + seconds

    def client(_: int) -> int:
        count = 0
        while time.monotonic() < deadline:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
                answer.read()
                if answer.status != 200:
                    sys.exit(f"benchmark: {url} answered {answer.status}")
            count += 1
        return count

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        total = sum(pool.map(client, range(connections)))
    return total / (time.monotonic() - started)


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{rate:.0f}" for rate in rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="live then gate, this many times")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    measure = _wrk if shutil.which("wrk") else _threads

    with PostgresServer() as postgres, RedisServer() as redis:
        env = _env(postgres.url, redis.url)
        _manage(env, "migrate", "--noinput")
        _manage(env, "load_demo", "--password", "benchmark-password")
        token = _manage(env, "issue_token", "--service", "benchmark", "--project", "liquor-pos")
        port = free_port()
        server = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "preflight.wsgi",
                "--workers",
                str(options.workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base + "/health/live")
            with urllib.request.urlopen(
                urllib.request.Request(base + GATE, headers={"Authorization": f"Bearer {token}"})
            ) as answer:
                print(f"gate answer: {answer.read().decode()[:160]}…")
            # Warm both (connections, caches) before measuring.
            measure(base + "/health/live", None, 2, options.connections)
            measure(base + GATE, token, 2, options.connections)
            # Alternate, so drift on the machine (other load, CPU frequency) touches both alike.
            lives, gates = [], []
            for _ in range(options.rounds):
                lives.append(
                    measure(base + "/health/live", None, options.seconds, options.connections)
                )
                gates.append(measure(base + GATE, token, options.seconds, options.connections))
        finally:
            server.terminate()
            server.wait(timeout=30)

    live, gate = statistics.median(lives), statistics.median(gates)
    ratio = gate / live
    print(
        f"client: {measure.__name__.strip('_')}, {options.connections} connections, "
        f"{options.rounds} rounds of {options.seconds}s each, gunicorn {options.workers} sync workers"
    )
    print(f"/health/live      {live:10.1f} req/s  (median; rounds: {_rates(lives)})")
    print(f"gate endpoint     {gate:10.1f} req/s  (median; rounds: {_rates(gates)})")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio gate/live   {ratio:10.2f}  ({verdict} the target of {TARGET_RATIO})")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
