"""How long a page of the audit log takes at a million events, deep in the history and filtered,
next to the first page (the baseline) and to the same deep page fetched with OFFSET, in one run.

    python -m scripts.throwaway -- .venv/bin/python benchmarks/audit_log.py
    python -m scripts.throwaway -- .venv/bin/python benchmarks/audit_log.py --events 2000000

It migrates Preflight's tables into the database named by DATABASE_URL (a throwaway one, as
above) and writes the events straight into the table, half of them in each of two projects.
Keyset pages should cost about what the first page does wherever they are; OFFSET grows with
the depth."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.test")

FILL = """
INSERT INTO audit_auditevent (seq, occurred_at, actor, project_id, action, object_type,
    object_id, object_repr, outcome, message, ip, request_id, prev_hash, hash)
SELECT i, %s + i * interval '30 seconds', 'user' || (i %% 50), 1 + (i %% 2),
    (ARRAY['deployment.started','deployment.finished','approval.granted',
           'run.started','tick.recorded'])[1 + i %% 5]
        || CASE WHEN i %% 997 = 0 THEN '.rare' ELSE '' END,
    'releases.deployment', (i %% 5000)::text, '',
    CASE WHEN i %% 1000 = 0 THEN 'denied' ELSE 'success' END,
    '', '', '', md5((i - 1)::text) || md5((i - 1)::text), md5(i::text) || md5(i::text)
FROM generate_series(%s, %s) AS i
"""


def best_ms(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audit.log import AuditFilters, events, page
    from audit.models import AuditEvent

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
        step = 250_000
        for low in range(1, args.events + 1, step):
            cursor.execute(
                FILL, [datetime(2024, 1, 1, tzinfo=UTC), low, min(low + step - 1, args.events)]
            )
        cursor.execute("VACUUM ANALYZE audit_auditevent")
    print(f"filled {args.events:,} events in {time.perf_counter() - start:.1f} s")

    deep = args.events // 10  # a page near the oldest events
    cases: list[tuple[str, Callable[[], object]]] = [
        ("first page (baseline)", lambda: page(events([1], AuditFilters()), before=None)),
        ("keyset page at 90% depth", lambda: page(events([1], AuditFilters()), before=deep)),
        (
            "OFFSET page at 90% depth",
            lambda: list(events([1], AuditFilters())[(args.events - deep) // 2 :][:51]),
        ),
        (
            "action filter, deep",
            lambda: page(events([1], AuditFilters(action="deployment.finished")), before=deep),
        ),
        (
            "rare action",
            lambda: page(events([1], AuditFilters(action="approval.granted.rare")), before=None),
        ),
        ("actor filter, deep", lambda: page(events([1], AuditFilters(actor="user7")), before=deep)),
        ("denied only", lambda: page(events([1], AuditFilters(outcome="denied")), before=None)),
        (
            "one old day",
            lambda: page(
                events([1], AuditFilters(since=date(2024, 1, 20), until=date(2024, 1, 20))),
                before=None,
            ),
        ),
    ]
    baseline = None
    print(f"{'case':<28} {'best ms':>9} {'median ms':>10} {'× baseline':>11}")
    for name, run in cases:
        best, median = best_ms(run, args.repeat)
        baseline = baseline or median
        print(f"{name:<28} {best:>9.2f} {median:>10.2f} {median / baseline:>11.1f}")
    assert AuditEvent.objects.count() == args.events


if __name__ == "__main__":
    main()
