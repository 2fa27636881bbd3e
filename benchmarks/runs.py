"""How long a readiness run of many slow http checks takes through the real worker, beside the
serial baseline measured in the same run.

    python -m scripts.throwaway -- python -m benchmarks.runs [--checks 100] [--seconds 1.0]

Needs PostgreSQL and Redis (scripts.throwaway starts both). The script migrates the database it is
given, starts a local HTTP server whose endpoint answers after ``--seconds``, starts a Celery
worker as the Procfile does, then:

- serial: evaluates every check one after the other in this process (the baseline);
- run: starts a readiness run through the service and waits until the worker finished it.

Target: 100 checks of 1 s each finish in under 5 s end to end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        sys.exit(
            "Set DATABASE_URL and REDIS_URL, or run through: python -m scripts.throwaway -- ..."
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.test")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from scripts.fake_http import FakeHTTPServer

    with FakeHTTPServer() as server:
        run_id, contexts = _setup(server.url(f"/sleep/{args.seconds:g}"), args.checks)
        serial = _serial(contexts)
        wall, total_ms, statuses = _through_the_worker(run_id)

    print(
        f"checks:                {args.checks} http checks, each answering after {args.seconds:g} s"
    )
    print(f"serial baseline:       {serial:.2f} s (one after the other, in this process)")
    print(f"run through the worker: {wall:.2f} s (run_start → finished, end to end)")
    print(f"sum of check durations: {total_ms / 1000:.2f} s (as recorded by the run)")
    print(f"ratio run / serial:    {wall / serial:.3f} ({serial / wall:.1f}x faster)")
    print(f"results:               {statuses}")
    target = 5.0 * args.checks * args.seconds / 100
    print(f"target:                < {target:.1f} s: {'met' if wall < target else 'MISSED'}")
    return 0 if wall < target and statuses == {"pass": args.checks} else 1


def _setup(url: str, count: int):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from checks.kinds.http import validate
    from checks.models import Category, Check, CheckResult, ReadinessRun
    from checks.services.runs import _context
    from releases.models import Environment, Membership, Project, Release

    suffix = str(int(time.time()))
    project = Project.objects.create(slug=f"bench-{suffix}", name="Benchmark")
    environment = Environment.objects.create(
        project=project, slug="staging", name="Staging", position=0
    )
    user = get_user_model().objects.create(username=f"bench-{suffix}")
    Membership.objects.create(project=project, user=user, role="deployer")
    release = Release.objects.create(
        project=project, version="1.0.0", git_sha="b" * 7, created_by=user
    )
    category = Category.objects.create(project=project, key="all", name="All", weight=100)
    config = validate({"url": url, "timeout_seconds": 30})
    Check.objects.bulk_create(
        Check(project=project, category=category, code=f"HTTP-{n:03d}", title=f"Slow endpoint {n}",
              severity="high", kind="http", config=config)
        for n in range(count)
    )  # fmt: skip
    scratch = ReadinessRun(release=release, environment=environment)
    contexts = [_context(scratch, check) for check in Check.objects.filter(project=project)]
    assert not CheckResult.objects.filter(run__release=release).exists()
    return (release.pk, environment.pk, user.pk), contexts


def _serial(contexts) -> float:  # type: ignore[no-untyped-def]
    from checks.kinds import get_kind

    http = get_kind("http")
    started = time.perf_counter()
    for ctx in contexts:
        outcome = http.evaluate(ctx)
        assert outcome.status == "pass", outcome.detail
    return time.perf_counter() - started


def _through_the_worker(ids) -> tuple[float, int, dict[str, int]]:  # type: ignore[no-untyped-def]
    from collections import Counter

    from django.contrib.auth import get_user_model

    from audit.actors import Actor
    from checks.models import ReadinessRun
    from checks.services.runs import run_start
    from releases.models import Environment, Release

    release_id, environment_id, user_id = ids
    log = Path(tempfile.mkdtemp(prefix="preflight-bench-")) / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "preflight", "worker",
             "--pool=threads", "--concurrency=4", "-n", f"bench-{os.getpid()}@localhost",
             "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"ready." not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the worker did not start; see {log}")
            time.sleep(0.1)
        actor = Actor.of_user(get_user_model().objects.get(pk=user_id))
        _warm_up(actor, Release.objects.get(pk=release_id))
        started = time.perf_counter()
        run, _ = run_start(
            actor=actor,
            release=Release.objects.get(pk=release_id),
            environment=Environment.objects.get(pk=environment_id),
        )
        while not ReadinessRun.objects.filter(pk=run.pk, status__in=("finished", "error")).exists():
            time.sleep(0.02)
        wall = time.perf_counter() - started
        run.refresh_from_db()
        durations = [r.duration_ms or 0 for r in run.results.all()]
        assert run.started_at is not None
        assert run.finished_at is not None
        print(
            f"in the run:            queued {(run.started_at - run.created_at).total_seconds():.2f} s, "
            f"executed in {(run.finished_at - run.started_at).total_seconds():.2f} s"
        )
        return wall, sum(durations), dict(Counter(run.results.values_list("status", flat=True)))
    finally:
        worker.kill()
        worker.wait()


def _warm_up(actor, release) -> None:  # type: ignore[no-untyped-def]
    """One run of one quick check first, so the timed run meets a worker that has imported its
    code and opened its connections, as a worker in service has."""
    from checks.kinds.manual import KIND as MANUAL
    from checks.models import Category, Check, ReadinessRun
    from checks.services.runs import run_start
    from releases.models import Environment

    warm = Environment.objects.create(
        project=release.project, slug="warm-up", name="Warm-up", position=1
    )
    check = Check.objects.create(
        project=release.project, category=Category.objects.get(project=release.project),
        code="WARM-001", title="Warm-up", severity="low", kind=MANUAL.name,
    )  # fmt: skip
    check.environments.add(warm)
    run, _ = run_start(actor=actor, release=release, environment=warm)
    while not ReadinessRun.objects.filter(pk=run.pk, status__in=("finished", "error")).exists():
        time.sleep(0.05)
    check.delete()
    run.delete()


if __name__ == "__main__":
    sys.exit(main())
