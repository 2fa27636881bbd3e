"""What a migration rehearsal costs next to a bare pg_restore + psql of the same migrations on the
same dump, in the same run.

    python -m scripts.throwaway -- .venv/bin/python benchmarks/rehearsal.py             # 500 MB
    python -m scripts.throwaway -- .venv/bin/python benchmarks/rehearsal.py --size-mb 50

The target is a dump of a database of at least 500 MB (the default; many minutes on two cores):
the rehearsal — checksum, scratch database, pg_restore, the migrations statement by statement
with a second connection watching their locks, assertions and row counts, the rollbacks in
reverse, two schema dumps compared, drop — should take no more than 1.3x the bare way: a fresh
database, the same pg_restore (same flags and --jobs), then ``psql --single-transaction -f`` of
each migration. Both run on the same server, alternating, and the best of ``--repeat`` rounds of
each is compared.

The release's three migrations are the kind a release carries: a column with a default (only the
catalog changes), an index on the large table (reads all of it) and a backfill of a small table;
each has its rollback. The source database is built on the server named by DATABASE_URL (a
throwaway one, as above: Preflight's tables are migrated into that server's database too)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.test")

SOURCE_ENV = "BENCH_SOURCE_DATABASE_URL"
HISTORY = """
CREATE TABLE _prisma_migrations (
    id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
    migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0
);
INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
  VALUES ('1', 'bench', now(), '20250101000000_init', 1);
"""
MIGRATIONS = {
    "20250101000000_init": ("-- the schema the database was built with\nSELECT 1;\n", None),
    "20250601000000_order_status": (
        "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'placed';\n",
        "ALTER TABLE orders DROP COLUMN status;\n",
    ),
    "20250602000000_orders_by_total": (
        "CREATE INDEX orders_total ON orders (total);\n",
        "DROP INDEX orders_total;\n",
    ),
    "20250603000000_city_names": (
        "UPDATE customers SET city = initcap(city);\n",
        "UPDATE customers SET city = lower(city);\n",
    ),
}
NEW = [name for name in MIGRATIONS if name != "20250101000000_init"]


def write_tree(root: Path) -> None:
    for name, (forward, rollback) in MIGRATIONS.items():
        folder = root / "prisma" / "migrations" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "migration.sql").write_text(forward)
        if rollback:
            (folder / "rollback.sql").write_text(rollback)


def bare(server_dsn: str, dump: Path, tree: Path, jobs: int, name: str) -> tuple[float, float]:
    """A fresh database, pg_restore, then psql of each new migration in one transaction: the
    whole time, and the restore's part of it."""
    from backups import pg

    conninfo, env = pg.client_args(server_dsn, dbname=name)
    started = time.monotonic()
    pg.create_database(server_dsn, name)
    subprocess.run(
        [
            pg.program("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--no-password",
            f"--jobs={jobs}",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env=env,
        check=True,
    )
    restored = time.monotonic() - started
    for migration in NEW:
        subprocess.run(
            [
                pg.program("psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--dbname={conninfo}",
                "--file",
                str(tree / "prisma" / "migrations" / migration / "migration.sql"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
    elapsed = time.monotonic() - started
    pg.drop_database(server_dsn, name)
    return elapsed, restored


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=500, help="source database size")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of each")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from backups import pg, storage
    from backups.models import Database
    from backups.services.taking import backup_take_now
    from benchmarks.drill import build_source
    from checks.kinds import get_kind
    from checks.models import Category, Check, CheckResult, MigrationRehearsal, ReadinessRun
    from checks.services.runs import _context
    from releases.models import Environment, Project, Release

    server_dsn = os.environ["DATABASE_URL"]
    work = Path(tempfile.mkdtemp(prefix="preflight-bench-"))
    settings.PREFLIGHT_BACKUP_DIR = work / "backups"
    settings.PREFLIGHT_REPOSITORY_ROOT = work / "trees"
    os.environ.pop(settings.PREFLIGHT_BACKUP_KEY_ENV, None)
    jobs = settings.PREFLIGHT_DRILL_RESTORE_JOBS
    tree = work / "trees" / "bench-1"
    write_tree(tree)

    source = f"bench_source_{os.getpid()}"
    pg.create_database(server_dsn, source)
    try:
        os.environ[SOURCE_ENV] = pg.dsn_for(server_dsn, source)
        started = time.monotonic()
        db_bytes = build_source(os.environ[SOURCE_ENV], args.size_mb)
        import psycopg

        with psycopg.connect(os.environ[SOURCE_ENV], autocommit=True) as conn:
            conn.execute(HISTORY)
        print(
            f"source database: {db_bytes / 2**20:.0f} MB, built in {time.monotonic() - started:.1f} s"
        )

        project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        environment, _ = Environment.objects.get_or_create(
            project=project, slug="production", defaults={"name": "Production", "position": 0}
        )
        release, _ = Release.objects.get_or_create(
            project=project, version="bench-1", defaults={"git_sha": "b" * 40}
        )
        category, _ = Category.objects.get_or_create(
            project=project, key="migrations", defaults={"name": "Migrations", "weight": 100}
        )
        kind = get_kind("migration_rehearsal")
        configs = {
            "MG-001": {"aspect": "rollback", "layout": "prisma", "path": "{version}"},
            "MG-002": {"aspect": "dry_run"},
            "MG-003": {
                "aspect": "assertions",
                "assertions": [
                    {
                        "name": "statuses set",
                        "sql": "SELECT count(*) = 0 FROM orders WHERE status IS NULL",
                    }
                ],
            },
            "MG-005": {"aspect": "duration", "budget_seconds": 3600, "total_budget_seconds": 3600},
        }
        checks = [
            Check.objects.update_or_create(
                project=project,
                code=code,
                defaults={
                    "title": code,
                    "category": category,
                    "severity": "critical",
                    "kind": "migration_rehearsal",
                    "config": kind.validate({"database": "main", **config}),
                    "position": position,
                },
            )[0]
            for position, (code, config) in enumerate(configs.items())
        ]
        database, _ = Database.objects.update_or_create(
            project=project, name="main", defaults={"dsn_env": SOURCE_ENV}
        )
        started = time.monotonic()
        backup = backup_take_now(database)
        if backup.status != "succeeded":
            print(f"backup failed: {backup.error}")
            return 1
        print(
            f"backup: {backup.size_bytes / 2**20:.0f} MB dump, taken in {time.monotonic() - started:.1f} s"
        )
        dump = storage.local_path(backup.location)
        assert dump is not None

        bare_times: list[float] = []
        bare_restores: list[float] = []
        rehearsal_times: list[float] = []
        parts: list[MigrationRehearsal] = []

        def rehearse() -> float:
            run = ReadinessRun.objects.create(
                release=release, environment=environment, status="running"
            )
            CheckResult.objects.bulk_create(
                CheckResult(run=run, check_item=c, category=category, severity=c.severity)
                for c in checks
            )
            started = time.monotonic()
            outcomes = [kind.evaluate(_context(run, check)) for check in checks]
            elapsed = time.monotonic() - started
            # The dry run warns about the locks the index and the column take, as it should.
            bad = [o for o in outcomes if o.status not in ("pass", "warn")]
            if bad:
                raise SystemExit(f"rehearsal did not pass: {bad[0].status}: {bad[0].detail}")
            parts.append(MigrationRehearsal.objects.get(run=run))
            return elapsed

        for round_ in range(args.repeat):
            # Alternate which goes first, so neither always restores into a warmer cache.
            name = f"bench_bare_{round_}"
            if round_ % 2:
                rehearsal_times.append(rehearse())
                whole, restored = bare(server_dsn, dump, tree, jobs, name)
            else:
                whole, restored = bare(server_dsn, dump, tree, jobs, name)
                rehearsal_times.append(rehearse())
            bare_times.append(whole)
            bare_restores.append(restored)
            last = parts[-1]
            print(
                f"round {round_ + 1}: bare pg_restore + psql {whole:.2f} s (restore {restored:.2f} s),"
                f" rehearsal {rehearsal_times[-1]:.2f} s (restore {last.restore_seconds:.2f} s,"
                f" migrations {last.migrate_seconds:.2f} s, rollbacks {last.rollback_seconds:.2f} s),"
                f" ratio {rehearsal_times[-1] / bare_times[-1]:.2f}x"
            )
        best_bare, best = min(bare_times), min(rehearsal_times)
        ratios = [r / b for r, b in zip(rehearsal_times, bare_times, strict=True)]
        print(f"pg_restore --jobs={jobs}, {len(NEW)} migrations; best of {args.repeat}:")
        print(f"  bare pg_restore + psql  {best_bare:8.2f} s")
        print(f"  migration rehearsal     {best:8.2f} s")
        print(
            f"  overhead ratio          {best / best_bare:8.2f}x   (target <= 1.30x at >= 500 MB)"
        )
        print(f"  median per-round        {statistics.median(ratios):8.2f}x")
        print(
            f"  load average            {os.getloadavg()[0]:8.2f}   (noise: other work on the machine)"
        )
        return 0
    finally:
        pg.drop_database(server_dsn, source)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
