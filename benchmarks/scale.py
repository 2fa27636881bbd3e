"""Every page and the gate endpoint at the size of a large organisation, beside the same request on
the demo's data, over real HTTP against gunicorn, in one run.

    python -m scripts.throwaway -- .venv/bin/python -m benchmarks.scale [--scale 0.1] [--samples 40]

Two databases on the PostgreSQL server DATABASE_URL names (a throwaway one, as above): ``demo``
holds the Liquor POS demo (``manage.py load_demo``), ``large`` the demo plus the organisation of
benchmarks/org.py (at ``--scale 1``: 50 projects, 5,000 releases, 50,000 readiness runs,
2,000,000 check results, 20,000 deployments, 1,000,000 audit events, whose chain is verified).
Each is served by its own gunicorn (preflight/gunicorn.conf.py, production settings, its own Redis
database). Each page is fetched as the demo's admin, alternately from the two servers, and timed
by the client; pages that list projects are measured per page of results (the overview's first
cards, then one card). Targets: large / demo p95 ≤ 1.5 and every large p95 ≤ 300 ms. Last, the
gate is polled on the large data alone and while a client locks and unlocks an environment of
its project 10 times a second (each an audited change that ends the gate's cached answer), in
alternating rounds: the target is p95 under churn ≤ 2× idle.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from scripts.throwaway import free_port

from . import org

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "benchmark-password"
USER = "admin"
RATIO_TARGET = 1.5
P95_TARGET_MS = 300.0
CHURN_TARGET = 2.0
CHURN_PER_SECOND = 10
RELEASE = "/projects/liquor-pos/releases/1.1.0/production/"
PAGES = (
    ("overview (first cards)", "/"),
    ("overview card", "/overview/liquor-pos/"),
    ("pipeline", "/projects/liquor-pos/"),
    ("release page", RELEASE),
    ("report", RELEASE + "report"),
    ("deployments + DORA", "/projects/liquor-pos/deployments/"),
    ("backups", "/projects/liquor-pos/backups/"),
    ("audit log (project)", "/projects/liquor-pos/audit/"),
    ("audit log (all)", "/audit/"),
)
GATE = "/api/v1/projects/liquor-pos/releases/1.1.0/gate/?environment=production"


def _database_url(base: str, name: str) -> str:
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _redis_url(base: str, number: int) -> str:
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{number}"))


@dataclass
class Site:
    name: str
    database_url: str
    env: dict[str, str]
    port: int = 0
    token: str = ""
    process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"scale: manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout.strip()


def _site(name: str, base_db: str, redis: str, redis_db: int, var: Path) -> Site:
    database_url = _database_url(base_db, f"scale_{name}")
    with psycopg.connect(base_db, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE scale_{name}")
    (var / name).mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "preflight.settings.production",
        "SECRET_KEY": "benchmark-" + "k" * 50,
        "PREFLIGHT_AUDIT_ANCHOR_KEY": "benchmark-anchor-" + "a" * 50,
        "PREFLIGHT_VAR_DIR": str(var / name),
        "PREFLIGHT_AUDIT_ANCHOR_DIR": str(var / name / "anchors"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": _redis_url(redis, redis_db),
        "PREFLIGHT_API_TOKEN_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "PREFLIGHT_LOG_FORMAT": "plain",
    }
    return Site(name, database_url, env)


@contextmanager
def _served(site: Site) -> Iterator[None]:
    site.port = free_port()
    site.process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "preflight.wsgi",
            "--config",
            "preflight/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{site.port}",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=site.env,
    )
    try:
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=2)
                connection.request("GET", "/health/live")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit(f"scale: {site.name}'s server did not come up")
        yield
    finally:
        site.process.terminate()
        site.process.wait(timeout=30)


class Client:
    """One keep-alive connection with a logged-in session."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.connection.request(method, path, body=body, headers=sent)
            response = self.connection.getresponse()
        except (http.client.HTTPException, OSError):
            # gunicorn restarts a worker after max_requests and closes the connection.
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connection.request(method, path, body=body, headers=sent)
            response = self.connection.getresponse()
        content = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, content

    def csrf(self) -> str:
        return self.cookies.get("csrftoken", "")

    def post(self, path: str, fields: dict[str, str]) -> int:
        status, _ = self.request(
            "POST",
            path,
            urllib.parse.urlencode({"csrfmiddlewaretoken": self.csrf(), **fields}),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"http://127.0.0.1:{self.port}",
                "Referer": f"http://127.0.0.1:{self.port}{path}",
                "X-CSRFToken": self.csrf(),
            },
        )
        return status

    def login(self) -> None:
        self.request("GET", "/login/")
        status = self.post("/login/", {"username": USER, "password": PASSWORD})
        if status != 302:
            sys.exit(f"scale: logging in answered {status}")

    def timed(self, path: str, headers: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        status, content = self.request("GET", path, headers=headers)
        took = (time.perf_counter() - started) * 1000
        if status != 200:
            sys.exit(f"scale: {path} answered {status}: {content[:300]!r}")
        return took


@dataclass
class Figures:
    times: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.times)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    @property
    def p95(self) -> float:
        return self.percentile(0.95)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def _prepare(site: Site, scale: float | None) -> None:
    started = time.perf_counter()
    site.manage("migrate", "--noinput")
    site.manage("load_demo", "--password", PASSWORD)
    site.manage("collectstatic", "--noinput")
    print(f"{site.name}: migrated and loaded the demo in {time.perf_counter() - started:.0f} s")
    if scale:
        took = org.generate(site.database_url, scale)
        parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in took.items())
        print(f"{site.name}: generated at scale {scale} ({parts})")
        started = time.perf_counter()
        verified = site.manage("verify_audit")
        print(f"{site.name}: {verified.splitlines()[-1] if verified else 'verified'}")
        print(f"{site.name}: chain verified in {time.perf_counter() - started:.0f} s")
    print(
        f"{site.name}: " + ", ".join(f"{k} {v:,}" for k, v in org.counts(site.database_url).items())
    )
    site.token = site.manage(
        "issue_token", "--service", "benchmark", "--project", "liquor-pos"
    ).splitlines()[-1]


def _pages(demo: Site, large: Site, samples: int) -> list[tuple[str, Figures, Figures]]:
    clients = {site.name: Client(site.port) for site in (demo, large)}
    for client in clients.values():
        client.login()
    rows = []
    cases = [(name, path, None) for name, path in PAGES] + [("gate API", GATE, "token")]
    for name, path, auth in cases:
        figures = {site.name: Figures() for site in (demo, large)}
        for sample in range(samples + 3):
            for site in (demo, large) if sample % 2 == 0 else (large, demo):
                headers = {"Authorization": f"Bearer {site.token}"} if auth else None
                took = clients[site.name].timed(path, headers)
                if sample >= 3:  # the first few warm the workers' connections and caches
                    figures[site.name].times.append(took)
        rows.append((name, figures[demo.name], figures[large.name]))
    return rows


def _churn(site: Site, active: threading.Event, stop: threading.Event, done: list[int]) -> None:
    """Lock and unlock the demo's staging environment, CHURN_PER_SECOND changes a second while
    ``active`` is set."""
    client = Client(site.port)
    client.login()
    lock = "/projects/liquor-pos/environments/staging/lock"
    unlock = "/projects/liquor-pos/environments/staging/unlock"
    interval = 1 / CHURN_PER_SECOND
    count = 0
    while not stop.is_set():
        if not active.wait(0.05):
            continue
        due = time.perf_counter()
        while active.is_set() and not stop.is_set():
            if count % 2 == 0:
                status = client.post(lock, {"reason": "scale benchmark churn"})
            else:
                status = client.post(unlock, {})
            if status not in (200, 302):
                done.append(-status)  # the main thread reports it
                return
            count += 1
            due += interval
            time.sleep(max(0.0, due - time.perf_counter()))
    done.append(count)


def _gate_under_churn(site: Site, samples: int, rounds: int = 5) -> tuple[Figures, Figures, float]:
    """The gate polled back to back by one client, idle and while the churner changes the
    project, in alternating rounds: the machine's other load (its cores are shared) then
    weighs on both figures alike instead of on whichever phase it happened to fall in."""
    client = Client(site.port)
    headers = {"Authorization": f"Bearer {site.token}"}
    for _ in range(20):
        client.timed(GATE, headers)
    idle, busy = Figures(), Figures()
    active, stop = threading.Event(), threading.Event()
    done: list[int] = []
    churner = threading.Thread(target=_churn, args=(site, active, stop, done))
    churner.start()
    churning = 0.0
    try:
        for _ in range(rounds):
            idle.times.extend(client.timed(GATE, headers) for _ in range(samples // rounds))
            active.set()
            started = time.perf_counter()
            time.sleep(0.3)  # the changes are under way
            busy.times.extend(client.timed(GATE, headers) for _ in range(samples // rounds))
            active.clear()
            churning += time.perf_counter() - started
            time.sleep(0.2)  # the last change has returned
    finally:
        stop.set()
        churner.join()
    if not done or done[0] < 0:
        sys.exit(f"scale: locking and unlocking answered {-done[0] if done else 'nothing'}")
    return idle, busy, done[0] / churning


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1) if found else cpu
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the full organisation")
    parser.add_argument("--samples", type=int, default=40, help="requests per page and size")
    parser.add_argument("--gate-samples", type=int, default=1000)
    options = parser.parse_args()
    base_db, redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not base_db or not redis:
        sys.exit("scale: run under python -m scripts.throwaway -- (DATABASE_URL, REDIS_URL)")
    # The generator hashes audit events with audit.chain, which needs Django's models loaded.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.test")
    import django

    django.setup()
    from checks.views.pipeline import EAGER_CARDS

    # Under the checkout: the demo's git repository must be under PREFLIGHT_REPOSITORY_ROOT.
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scale-", dir=ROOT / "var") as var_name:
        var = Path(var_name)
        demo = _site("demo", base_db, redis, 1, var)
        large = _site("large", base_db, redis, 2, var)
        _prepare(demo, None)
        _prepare(large, options.scale)
        with _served(demo), _served(large):
            large_projects = org.counts(large.database_url)["projects"]
            rows = _pages(demo, large, options.samples)
            idle, busy, rate = _gate_under_churn(large, options.gate_samples)

    print(
        f"\nscale {options.scale}, {options.samples} samples each, {_machine()}, "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )
    header = f"| {'request':<24} | demo p50 | demo p95 | large p50 | large p95 | p50 × | p95 × |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    failed = []
    # The overview lists projects: it renders its first EAGER_CARDS cards and fetches the rest
    # one by one (the "overview card" row), so it is also compared per card rendered.
    cards = {demo.name: min(EAGER_CARDS, 1), large.name: min(EAGER_CARDS, large_projects)}
    for name, small, big in list(rows):
        if name.startswith("overview (first"):
            rows.append(
                (
                    "overview, per card",
                    Figures([t / cards[demo.name] for t in small.times]),
                    Figures([t / cards[large.name] for t in big.times]),
                )
            )
    for name, small, big in rows:
        r50, r95 = big.p50 / small.p50, big.p95 / small.p95
        print(
            f"| {name:<24} | {small.p50:8.1f} | {small.p95:8.1f} | {big.p50:9.1f} | {big.p95:9.1f}"
            f" | {r50:5.2f} | {r95:5.2f} |"
        )
        # The whole overview grows with the cards it shows; its per-card row takes the ratio.
        ratio_applies = not name.startswith("overview (first")
        if (ratio_applies and r95 > RATIO_TARGET) or big.p95 > P95_TARGET_MS:
            failed.append(name)
    churn_ratio = busy.p95 / idle.p95
    print(
        f"\ngate on the large data: idle p50 {idle.p50:.1f} ms, p95 {idle.p95:.1f} ms; "
        f"with {rate:.1f} state changes/s p50 {busy.p50:.1f} ms, p95 {busy.p95:.1f} ms "
        f"({churn_ratio:.2f}× idle); p99 idle {idle.p99:.1f} ms, with changes {busy.p99:.1f} ms"
    )
    if churn_ratio > CHURN_TARGET:
        failed.append("gate under churn")
    if failed:
        print(f"\nmissed the targets: {', '.join(failed)}")
        return 1
    print("\nevery target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
