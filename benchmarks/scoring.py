"""How long scoring and the gate take for a finished run of 1,000 checks, beside a run of one
check measured in the same process (the baseline: the fixed cost of the queries).

    python -m scripts.throwaway -- python -m benchmarks.scoring [--checks 1000] [--repeat 20]

Target: well under a second for 1,000 checks, with the same number of queries as for one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL, or run through: python -m scripts.throwaway -- ...")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.test")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from checks.evaluation import evaluate
    from checks.gate import evaluate_gate

    call_command("migrate", verbosity=0)
    small, large = _run(1), _run(args.checks)
    print(f"{'checks':>8} {'queries':>8} {'median ms':>10} {'max ms':>8}")
    timings = {}
    for run in (small, large):
        with CaptureQueriesContext(connection) as captured:
            evaluate(run)
            evaluate_gate(run.release, run.environment)
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            evaluate(run)
            evaluate_gate(run.release, run.environment)
            samples.append((time.perf_counter() - started) * 1000)
        count = run.results.count()
        timings[count] = statistics.median(samples)
        print(f"{count:>8} {len(captured):>8} {timings[count]:>10.1f} {max(samples):>8.1f}")
    print(f"ratio {args.checks} / 1 check: {timings[args.checks] / timings[1]:.1f}")
    return 0 if timings[args.checks] < 1000 else 1


def _run(count: int):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from checks.models import Category, Check, CheckResult, ReadinessRun
    from releases.models import Environment, Project, Release

    slug = f"score-{count}-{int(time.time())}"
    project = Project.objects.create(slug=slug, name=slug)
    environment = Environment.objects.create(
        project=project, slug="production", name="Production", position=0
    )
    user = get_user_model().objects.create(username=slug)
    release = Release.objects.create(
        project=project, version="1.0.0", git_sha="c" * 7, created_by=user
    )
    category = Category.objects.create(project=project, key="all", name="All", weight=100)
    checks = Check.objects.bulk_create(
        Check(project=project, category=category, code=f"C-{n:04d}", title="c",
              severity=("critical", "high", "medium", "low")[n % 4], kind="ci")
        for n in range(count)
    )  # fmt: skip
    run = ReadinessRun.objects.create(release=release, environment=environment, status="finished")
    CheckResult.objects.bulk_create(
        CheckResult(run=run, check_item=check, category=category, severity=check.severity,
                    status=("pass", "fail", "warn", "pending")[n % 4])
        for n, check in enumerate(checks)
    )  # fmt: skip
    return ReadinessRun.objects.select_related("release", "environment").get(pk=run.pk)


if __name__ == "__main__":
    sys.exit(main())
