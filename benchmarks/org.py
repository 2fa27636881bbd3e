"""A large organisation written straight into a migrated database that holds the Liquor POS demo.

The demo project is the template: every other project is a copy of its environments, categories,
checks, members and databases, and every project — the demo's too — gets a history of releases,
readiness runs with one result per check, deployments, backups, restore drills and audit events.
Rows go in with INSERT … SELECT generate_series (and audit events with COPY, their hash chain
computed in Python in one pass), never through the ORM one at a time, so the full size is written
in minutes. ``scale`` multiplies every size; 1.0 is FULL below."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import psycopg

DEMO_SLUG = "liquor-pos"
FULL = {
    "projects": 50,
    "releases": 5_000,
    "runs": 50_000,
    "results": 2_000_000,
    "deployments": 20_000,
    "audit_events": 1_000_000,
}
# A year of history; backups and drills are per database, whatever the scale.
HISTORY = timedelta(days=365)
BACKUPS_PER_DATABASE = 365
DRILLS_PER_DATABASE = 52


@dataclass(frozen=True)
class Sizes:
    projects: int
    releases: int
    runs: int
    results: int
    deployments: int
    audit_events: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        sized = {name: max(1, round(full * scale)) for name, full in FULL.items()}
        sized["projects"] = max(2, sized["projects"])
        return cls(**sized)


def _columns(cursor: psycopg.Cursor[Any], table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _clone(
    cursor: psycopg.Cursor[Any],
    table: str,
    where: str,
    overrides: dict[str, str],
    params: list[Any],
) -> None:
    """Copy the rows of ``table`` matching ``where`` (aliased ``t``), with some columns replaced by
    SQL expressions."""
    columns = _columns(cursor, table)
    values = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} t WHERE {where}",
        params,
    )


def _clone_projects(cursor: psycopg.Cursor[Any], demo: int, count: int) -> list[int]:
    ids = [demo]
    for number in range(1, count):
        cursor.execute(
            "INSERT INTO releases_project (slug, name, description, created_at, repository)"
            " SELECT %s, %s, description, created_at, repository FROM releases_project"
            " WHERE id = %s RETURNING id",
            [f"service-{number:03d}", f"Service {number:03d}", demo],
        )
        new = cursor.fetchone()[0]  # type: ignore[index]
        ids.append(new)
        same = {"project_id": "%s"}
        for table in (
            "releases_environment",
            "checks_category",
            "releases_membership",
            "backups_database",
        ):
            _clone(cursor, table, "t.project_id = %s", same, [new, demo])
        # Checks point at their project's category of the same key.
        _clone(
            cursor,
            "checks_check",
            "t.project_id = %s",
            {
                "project_id": "%s",
                "category_id": "(SELECT c.id FROM checks_category c JOIN checks_category o"
                " ON o.key = c.key WHERE o.id = t.category_id AND c.project_id = %s)",
            },
            [new, new, demo],
        )
        cursor.execute(
            "INSERT INTO checks_check_environments (check_id, environment_id)"
            " SELECT nc.id, ne.id FROM checks_check_environments ce"
            " JOIN checks_check oc ON oc.id = ce.check_id"
            " JOIN releases_environment oe ON oe.id = ce.environment_id"
            " JOIN checks_check nc ON nc.code = oc.code AND nc.project_id = %s"
            " JOIN releases_environment ne ON ne.slug = oe.slug AND ne.project_id = %s"
            " WHERE oc.project_id = %s",
            [new, new, demo],
        )
    return ids


def _history(cursor: psycopg.Cursor[Any], sizes: Sizes, since: datetime) -> None:
    span = HISTORY.total_seconds()
    # Projects numbered 0..n-1, releases spread over them, oldest first.
    cursor.execute(
        "CREATE TEMP TABLE scale_project AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n,"
        " (SELECT array_agg(e.id ORDER BY e.position) FROM releases_environment e"
        "  WHERE e.project_id = p.id) AS envs,"
        " (SELECT array_agg(u.user_id ORDER BY u.id) FROM releases_membership u"
        "  WHERE u.project_id = p.id) AS people"
        " FROM releases_project p"
    )
    cursor.execute("SELECT count(*) FROM scale_project")
    projects = cursor.fetchone()[0]  # type: ignore[index]
    cursor.execute(
        "INSERT INTO releases_release (version, git_sha, notes, created_at, created_by_id,"
        " project_id)"
        " SELECT '2.' || (i / %(p)s / 10) || '.' || (i / %(p)s %% 10), md5(i::text) ||"
        " substr(md5((-i)::text), 1, 8), 'Generated release ' || i,"
        " %(since)s + (i * %(span)s / %(n)s) * interval '1 second',"
        " sp.people[1 + i %% array_length(sp.people, 1)], sp.id"
        " FROM generate_series(0, %(n)s - 1) AS i JOIN scale_project sp ON sp.n = i %% %(p)s",
        {"p": projects, "n": sizes.releases, "since": since, "span": span},
    )
    cursor.execute(
        "CREATE TEMP TABLE scale_release AS SELECT r.id, r.created_at, sp.envs, sp.people,"
        " row_number() OVER (ORDER BY r.id) - 1 AS n FROM releases_release r"
        " JOIN scale_project sp ON sp.id = r.project_id WHERE r.notes LIKE 'Generated release %%'"
    )
    cursor.execute("CREATE INDEX ON scale_release (n)")
    # Deployments: each release goes through its environments in order, a few hours apart;
    # one in twelve fails.
    cursor.execute(
        "INSERT INTO releases_deployment (strategy, status, status_detail, override_reason,"
        " started_at, finished_at, verified_at, started_by_id, environment_id, release_id,"
        " recorded_after_the_fact)"
        " SELECT (ARRAY['rolling','blue-green','canary','recreate'])[1 + i %% 4],"
        " CASE WHEN i %% 12 = 5 THEN 'failed' WHEN i %% 3 = 0 THEN 'verified'"
        "  ELSE 'succeeded' END, '', '',"
        " r.created_at + (1 + k) * interval '3 hours',"
        " r.created_at + (1 + k) * interval '3 hours' + interval '7 minutes',"
        " CASE WHEN i %% 3 = 0 AND i %% 12 <> 5"
        "  THEN r.created_at + (1 + k) * interval '3 hours' + interval '20 minutes' END,"
        " r.people[1 + i %% array_length(r.people, 1)],"
        " r.envs[1 + k %% array_length(r.envs, 1)], r.id, false"
        " FROM generate_series(0, %(n)s - 1) AS i,"
        " LATERAL (SELECT i / %(r)s AS k) AS per,"
        " scale_release r WHERE r.n = i %% %(r)s",
        {"n": sizes.deployments, "r": sizes.releases},
    )
    # Readiness runs: several per release and environment, finished, scored.
    cursor.execute(
        "INSERT INTO checks_readinessrun (kind, status, score, breakdown, error, attempts,"
        " created_at, started_at, heartbeat_at, finished_at, environment_id, release_id,"
        " requested_by_id)"
        " SELECT 'readiness', 'finished', 60 + (i * 7) %% 41, '{}'::jsonb, '', 1,"
        " r.created_at + (i / %(r)s) * interval '40 minutes',"
        " r.created_at + (i / %(r)s) * interval '40 minutes' + interval '2 seconds',"
        " r.created_at + (i / %(r)s) * interval '40 minutes' + interval '30 seconds',"
        " r.created_at + (i / %(r)s) * interval '40 minutes' + interval '31 seconds',"
        " r.envs[1 + (i / %(r)s) %% array_length(r.envs, 1)], r.id,"
        " r.people[1 + i %% array_length(r.people, 1)]"
        " FROM generate_series(0, %(n)s - 1) AS i JOIN scale_release r ON r.n = i %% %(r)s",
        {"n": sizes.runs, "r": sizes.releases},
    )
    # One result per readiness check of the run's project, as many as the size asks for.
    per_run = max(1, sizes.results // sizes.runs)
    cursor.execute(
        "INSERT INTO checks_checkresult (severity, status, detail, evidence_url, data,"
        " duration_ms, evaluated_at, updated_at, category_id, check_id, run_id, source)"
        " SELECT c.severity,"
        " (ARRAY['pass','pass','pass','pass','warn','fail','pass','skipped'])"
        "  [1 + (run.id + c.id) %% 8], '', '', '{}'::jsonb, (run.id + c.id) %% 900,"
        " run.finished_at, run.finished_at, c.category_id, c.id, run.id, 'worker'"
        " FROM checks_readinessrun run JOIN releases_release r ON r.id = run.release_id"
        " CROSS JOIN LATERAL (SELECT * FROM checks_check c WHERE c.project_id = r.project_id"
        "  AND c.is_active ORDER BY c.position, c.id LIMIT %(k)s) c"
        " WHERE r.notes LIKE 'Generated release %%'",
        {"k": per_run},
    )
    # Backups (daily) and restore drills (weekly) for every database over the year.
    cursor.execute(
        "INSERT INTO backups_backup (kind, source, status, started_at, finished_at, size_bytes,"
        " sha256, location, encrypted, verified, manifest, error, keep_until, deleted_at,"
        " reported_by_label, created_at, database_id)"
        " SELECT t.kind, t.source, t.status, now() - d * interval '1 day',"
        " now() - d * interval '1 day' + interval '4 minutes', t.size_bytes, t.sha256,"
        " t.location || '.' || d, t.encrypted, t.verified, t.manifest, t.error, t.keep_until,"
        " t.deleted_at, t.reported_by_label, now() - d * interval '1 day', db.id"
        " FROM backups_database db"
        " CROSS JOIN LATERAL (SELECT * FROM backups_backup b WHERE b.status = 'succeeded'"
        "  ORDER BY b.id LIMIT 1) t"
        " CROSS JOIN generate_series(1, %(n)s) AS d",
        {"n": BACKUPS_PER_DATABASE},
    )
    cursor.execute(
        "INSERT INTO backups_restoredrill (status, requested_by_label, created_at, started_at,"
        " finished_at, restore_seconds, data_age_seconds, validations, error, attempts,"
        " database_id)"
        " SELECT t.status, t.requested_by_label, now() - w * interval '7 days',"
        " now() - w * interval '7 days', now() - w * interval '7 days' + interval '3 minutes',"
        " t.restore_seconds, t.data_age_seconds, t.validations, t.error, t.attempts, db.id"
        " FROM backups_database db"
        " CROSS JOIN LATERAL (SELECT * FROM backups_restoredrill x ORDER BY x.id LIMIT 1) t"
        " CROSS JOIN generate_series(1, %(n)s) AS w",
        {"n": DRILLS_PER_DATABASE},
    )


def _audit_columns() -> tuple[str, ...]:
    """The chain's own columns and the hash: audit.chain's list, so no AuditEvent field is missed."""
    from audit.chain import HASHED_FIELDS

    return (*HASHED_FIELDS, "hash")


ACTIONS = (
    ("run.finished", "checks.readinessrun"),
    ("deployment.started", "releases.deployment"),
    ("deployment.finished", "releases.deployment"),
    ("approval.granted", "releases.approval"),
    ("tick.recorded", "checks.manualtick"),
    ("release.created", "releases.release"),
    ("lock.acquired", "releases.lock"),
    ("lock.released", "releases.lock"),
)


def _audit_rows(
    count: int, head_seq: int, head_hash: str, projects: list[int], people: list[tuple[int, str]]
) -> Iterator[tuple[Any, ...]]:
    """The events after the chain's head, linked exactly as audit.record links them (the hash is
    audit.chain.event_hash's, on an object with the event's fields)."""
    from audit.chain import event_hash

    columns = _audit_columns()

    start = datetime.now(UTC) - HISTORY
    step = HISTORY / (count + 1)
    previous = head_hash
    for i in range(count):
        user_id, username = people[i % len(people)]
        action, object_type = ACTIONS[i % len(ACTIONS)]
        denied = i % 500 == 7
        event = SimpleNamespace(
            seq=head_seq + 1 + i,
            occurred_at=(start + step * i).replace(microsecond=0),
            actor=username,
            actor_user_id=user_id,
            actor_token_id=None,
            project_id=projects[i % len(projects)],
            action=action,
            object_type=object_type,
            object_id=str(i % 20_000 + 1),
            object_repr=f"{object_type.split('.')[1]} {i % 20_000 + 1}",
            before=None,
            after=None,
            outcome="denied" if denied else "success",
            message="not allowed" if denied else "",
            ip=f"10.0.0.{i % 200}",
            request_id=f"{i:032x}",
            prev_hash=previous,
        )
        event.hash = event_hash(cast(Any, event))
        previous = event.hash
        yield tuple(getattr(event, column) for column in columns)


def _audit(connection: psycopg.Connection[Any], count: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM audit_auditevent ORDER BY seq DESC LIMIT 1")
        head = cursor.fetchone()
        head_seq, head_hash = (head[0], head[1]) if head else (0, "0" * 64)
        cursor.execute("SELECT id FROM releases_project ORDER BY id")
        projects = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT DISTINCT u.id, u.username FROM auth_user u"
            " JOIN releases_membership m ON m.user_id = u.id ORDER BY u.id"
        )
        people = [(row[0], row[1]) for row in cursor.fetchall()]
        # The append-only trigger refuses UPDATE and DELETE; COPY only inserts.
        columns = ", ".join(_audit_columns())
        with cursor.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            for row in _audit_rows(count, head_seq, head_hash, projects, people):
                copy.write_row(row)


def generate(database_url: str, scale: float) -> dict[str, float]:
    """Write the organisation; answers how long each part took, in seconds."""
    sizes = Sizes.at(scale)
    took: dict[str, float] = {}
    with psycopg.connect(database_url, autocommit=False) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM releases_project WHERE slug = %s", [DEMO_SLUG])
            demo = cursor.fetchone()[0]  # type: ignore[index]
            started = time.perf_counter()
            _clone_projects(cursor, demo, sizes.projects)
            took["projects"] = time.perf_counter() - started
            started = time.perf_counter()
            _history(cursor, sizes, datetime.now(UTC) - HISTORY)
            took["history"] = time.perf_counter() - started
        started = time.perf_counter()
        _audit(connection, sizes.audit_events)
        took["audit"] = time.perf_counter() - started
        connection.commit()
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    took["analyze"] = time.perf_counter() - started
    return took


def counts(database_url: str) -> dict[str, int]:
    tables = {
        "projects": "releases_project",
        "releases": "releases_release",
        "runs": "checks_readinessrun",
        "results": "checks_checkresult",
        "deployments": "releases_deployment",
        "audit_events": "audit_auditevent",
        "backups": "backups_backup",
    }
    with psycopg.connect(database_url) as connection:
        return {
            name: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for name, table in tables.items()
        }
