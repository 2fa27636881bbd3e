"""What a restore drill costs next to a bare pg_restore of the same dump, in the same run.

    python -m scripts.throwaway -- .venv/bin/python benchmarks/drill.py            # 100 MB
    python -m scripts.throwaway -- .venv/bin/python benchmarks/drill.py --size-mb 1024

The target is a database of 1 GB (``--size-mb 1024``, several minutes on two cores): the drill
— checksum, scratch database, pg_restore, row counts and SQL assertions, drop — should take no
more than 1.3× the bare pg_restore. Both restores use the same pg_restore flags and --jobs
(PREFLIGHT_DRILL_RESTORE_JOBS), into fresh databases on the same server, alternating, and the
best of ``--repeat`` rounds of each is compared.

It builds a source database of the requested size on the server named by DATABASE_URL (a
throwaway one, as above: it also migrates Preflight's tables into that server's database)."""

from __future__ import annotations

import argparse
import os
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
# About 215 bytes per row on disk with its indexes: rows = size / 215.
SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, city text NOT NULL);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers(id),
    placed_at timestamptz NOT NULL,
    total numeric(12, 2) NOT NULL,
    note text NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_placed ON orders (placed_at);
"""


def build_source(dsn: str, size_mb: int) -> int:
    import psycopg

    rows = size_mb * 1024 * 1024 // 215
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            "INSERT INTO customers (name, city) SELECT 'customer ' || n, 'city ' || (n % 97)"
            " FROM generate_series(1, 10000) n"
        )
        step = 500_000
        for start in range(0, rows, step):
            conn.execute(
                "INSERT INTO orders (customer_id, placed_at, total, note)"
                " SELECT 1 + n %% 10000, now() - n * interval '1 second', n %% 1000 + 0.99,"
                " md5(n::text) || md5((n * 7)::text)"
                " FROM generate_series(%s::bigint, %s::bigint) n",
                [start + 1, min(start + step, rows)],
            )
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def bare_restore(server_dsn: str, dump: Path, jobs: int, name: str) -> float:
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
    elapsed = time.monotonic() - started
    pg.drop_database(server_dsn, name)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=100, help="source database size")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of each restore")
    parser.add_argument("--encrypt", action="store_true", help="encrypt the backup (AES-GCM)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from audit.actors import Actor
    from backups import pg, storage
    from backups.models import Database
    from backups.services.drills import drill_execute, drill_request
    from backups.services.taking import backup_take_now
    from releases.models import Project

    server_dsn = os.environ["DATABASE_URL"]
    work = Path(tempfile.mkdtemp(prefix="preflight-bench-"))
    settings.PREFLIGHT_BACKUP_DIR = work / "backups"
    if args.encrypt:
        import base64

        os.environ[settings.PREFLIGHT_BACKUP_KEY_ENV] = base64.b64encode(os.urandom(32)).decode()
    else:
        os.environ.pop(settings.PREFLIGHT_BACKUP_KEY_ENV, None)
    jobs = settings.PREFLIGHT_DRILL_RESTORE_JOBS

    source = f"bench_source_{os.getpid()}"
    pg.create_database(server_dsn, source)
    try:
        os.environ[SOURCE_ENV] = pg.dsn_for(server_dsn, source)
        started = time.monotonic()
        db_bytes = build_source(os.environ[SOURCE_ENV], args.size_mb)
        print(
            f"source database: {db_bytes / 2**20:.0f} MB, built in {time.monotonic() - started:.1f} s"
        )

        project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        database, _ = Database.objects.update_or_create(
            project=project,
            name="main",
            defaults={
                "dsn_env": SOURCE_ENV,
                "validation_sql": [
                    {
                        "name": "every order has its customer",
                        "sql": "SELECT count(*) = 0 FROM orders o"
                        " LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL",
                    }
                ],
            },
        )
        started = time.monotonic()
        backup = backup_take_now(database)
        if backup.status != "succeeded":
            print(f"backup failed: {backup.error}")
            return 1
        print(
            f"backup: {backup.size_bytes / 2**20:.0f} MB dump{' (encrypted)' if backup.encrypted else ''},"
            f" taken in {time.monotonic() - started:.1f} s"
        )
        dump = storage.local_path(backup.location)
        assert dump is not None
        if backup.encrypted:  # the bare restore gets the plain dump; decrypting is drill work
            from backups import crypto

            plain = work / "plain.dump"
            with dump.open("rb") as src, plain.open("wb") as dst:
                crypto.decrypt_stream(src, dst, crypto.load_key())
            dump = plain

        bare_times, drill_times, rto = [], [], []
        actor = Actor.of_system("benchmark")

        def run_drill() -> float:
            drill = drill_request(actor=actor, database=database, backup=backup, send_task=False)
            started = time.monotonic()
            drill_execute(drill.pk)
            elapsed = time.monotonic() - started
            drill.refresh_from_db()
            if drill.status != "passed":
                raise SystemExit(f"drill failed: {drill.error}")
            rto.append(drill.restore_seconds or 0.0)
            return elapsed

        for round_ in range(args.repeat):
            # Alternate which goes first, so neither always restores into a warmer cache.
            if round_ % 2:
                drill_times.append(run_drill())
                bare_times.append(bare_restore(server_dsn, dump, jobs, f"bench_bare_{round_}"))
            else:
                bare_times.append(bare_restore(server_dsn, dump, jobs, f"bench_bare_{round_}"))
                drill_times.append(run_drill())
            print(
                f"round {round_ + 1}: bare pg_restore {bare_times[-1]:.2f} s,"
                f" drill {drill_times[-1]:.2f} s (its RTO {rto[-1]:.2f} s),"
                f" ratio {drill_times[-1] / bare_times[-1]:.2f}x"
            )
        bare, full = min(bare_times), min(drill_times)
        ratios = [d / b for d, b in zip(drill_times, bare_times, strict=True)]
        print(f"pg_restore --jobs={jobs}; best of {args.repeat}:")
        print(f"  bare pg_restore   {bare:8.2f} s")
        print(f"  restore drill     {full:8.2f} s   (median RTO {statistics.median(rto):.2f} s)")
        print(f"  overhead ratio    {full / bare:8.2f}x   (target <= 1.30x at 1 GB)")
        print(f"  median per-round  {statistics.median(ratios):8.2f}x")
        print(f"  load average      {os.getloadavg()[0]:8.2f}   (noise: other work on the machine)")
        return 0
    finally:
        pg.drop_database(server_dsn, source)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
