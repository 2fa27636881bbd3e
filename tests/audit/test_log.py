from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from audit.actors import Actor
from audit.exports import audit_export, csv_lines
from audit.log import AuditFilters, events, page
from audit.models import AuditEvent
from audit.services import record

pytestmark = pytest.mark.django_db

SYSTEM = Actor.of_system("test")


def _record(project_id: int | None = 1, **kw: Any) -> AuditEvent:
    kw.setdefault("action", "thing.done")
    return record(actor=kw.pop("actor", SYSTEM), project_id=project_id, **kw)


def test_events_are_only_those_of_the_given_projects() -> None:
    mine, _other, _none = _record(1), _record(2), _record(None)
    assert list(events([1], AuditFilters())) == [mine]


def test_pages_walk_back_by_seq_without_gaps_or_repeats() -> None:
    made = [_record(1) for _ in range(7)]
    qs = events([1], AuditFilters())
    first = page(qs, before=None, size=3)
    second = page(qs, before=first.next_before, size=3)
    third = page(qs, before=second.next_before, size=3)
    seen = [e.seq for p in (first, second, third) for e in p.events]
    assert seen == sorted((e.seq for e in made), reverse=True)
    assert third.next_before is None


def test_a_full_last_page_says_there_is_nothing_older() -> None:
    for _ in range(3):
        _record(1)
    assert page(events([1], AuditFilters()), before=None, size=3).next_before is None


def test_an_action_ending_in_a_dot_matches_every_action_it_starts() -> None:
    started = _record(1, action="deployment.started")
    finished = _record(1, action="deployment.finished")
    _record(1, action="deploymentx")
    _record(1, action="approval.granted")
    assert set(events([1], AuditFilters(action="deployment."))) == {started, finished}
    assert list(events([1], AuditFilters(action="deployment.started"))) == [started]


def test_an_action_without_a_dot_also_matches_its_family() -> None:
    started = _record(1, action="deployment.started")
    bare = _record(1, action="deployment")
    _record(1, action="deploymentx.started")
    _record(1, action="approval.granted")
    assert set(events([1], AuditFilters(action="deployment"))) == {started, bare}


def test_filters_by_actor_object_and_outcome() -> None:
    ana = _record(1, actor=Actor.of_system("ana"), message="x")
    denied = _record(1, outcome="denied")
    assert list(events([1], AuditFilters(actor="system:ana"))) == [ana]
    assert list(events([1], AuditFilters(outcome="denied"))) == [denied]


def test_filters_by_date_range_including_both_days() -> None:
    event = _record(1)
    today = event.occurred_at.date()
    assert list(events([1], AuditFilters(since=today, until=today))) == [event]
    assert list(events([1], AuditFilters(until=today - timedelta(days=1)))) == []
    assert list(events([1], AuditFilters(since=today + timedelta(days=1)))) == []


def _insert(seq: int, at: datetime, project_id: int = 1) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, occurred_at, actor, project_id, action, object_type,"
            " object_id, object_repr, outcome, message, ip, request_id, prev_hash, hash)"
            " VALUES (%s, %s, 'a', %s, 'x', '', '', '', 'success', '', '', '', %s, %s)",
            [seq, at, project_id, f"{seq - 1:064d}", f"{seq:064d}"],
        )


def test_date_filters_hold_when_time_and_seq_disagree_by_a_lock_wait() -> None:
    """An event's time is taken before it waits for the chain lock: a later seq can carry an
    earlier time. The seq bounds that keep date filters fast must not lose such events."""
    midnight = datetime(2025, 1, 2, tzinfo=UTC)
    _insert(1, midnight - timedelta(hours=1))
    _insert(2, midnight - timedelta(seconds=1))
    _insert(3, midnight + timedelta(seconds=1))
    _insert(4, midnight - timedelta(seconds=2))  # waited 3 s for the lock
    _insert(5, midnight + timedelta(hours=1))
    day_before = date(2025, 1, 1)
    assert [e.seq for e in events([1], AuditFilters(until=day_before))] == [4, 2, 1]
    assert [e.seq for e in events([1], AuditFilters(since=midnight.date()))] == [5, 3]


def test_the_export_is_recorded_with_its_filters_before_any_row_goes_out() -> None:
    _record(1, action="deployment.started")
    filters = AuditFilters(action="deployment.", since=date(2026, 1, 1))
    lines = audit_export(
        actor=SYSTEM, project_id=1, qs=events([1], filters), filters=filters, fmt="jsonl"
    )
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.project_id == 1
    assert exported.after == {
        "format": "jsonl",
        "filters": {"action": "deployment.", "since": "2026-01-01"},
    }
    rows = [json.loads(line) for line in lines]
    assert [r["action"] for r in rows] == ["deployment.started"]
    assert rows[0]["hash"] == AuditEvent.objects.get(action="deployment.started").hash


def test_csv_export_is_oldest_first_and_defuses_spreadsheet_formulas() -> None:
    _record(1, message='=HYPERLINK("http://evil")')
    _record(1, message="plain")
    text = "".join(
        audit_export(
            actor=SYSTEM,
            project_id=1,
            qs=events([1], AuditFilters(action="thing.done")),
            filters=AuditFilters(),
            fmt="csv",
        )
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["message"] for r in rows] == ['\'=HYPERLINK("http://evil")', "plain"]
    assert int(rows[0]["seq"]) < int(rows[1]["seq"])


def test_an_unknown_export_format_is_refused_and_not_recorded() -> None:
    with pytest.raises(ValueError, match="format"):
        audit_export(
            actor=SYSTEM,
            project_id=1,
            qs=events([1], AuditFilters()),
            filters=AuditFilters(),
            fmt="xml",
        )
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_csv_lines_stream_one_row_at_a_time() -> None:
    for _ in range(3):
        _record(1)
    chunks = list(csv_lines(events([1], AuditFilters()).order_by("seq")))
    assert len(chunks) == 4  # the header, then a chunk per event


# At scale: the plan reads a page's rows through an index, however many events there are. ---

EVENTS = 100_000


def _fill(n: int) -> None:
    """n events over two projects, written straight into the table (the chain is not what is
    measured here; the append-only trigger allows inserts)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditevent (seq, occurred_at, actor, project_id, action, object_type,
                object_id, object_repr, outcome, message, ip, request_id, prev_hash, hash)
            SELECT i, %s + i * interval '30 seconds', 'user' || (i %% 50), 1 + (i %% 2),
                (ARRAY['deployment.started','deployment.finished','approval.granted',
                       'run.started','tick.recorded'])[1 + i %% 5] || CASE WHEN i %% 997 = 0 THEN '.rare' ELSE '' END,
                'releases.deployment', (i %% 5000)::text, '', CASE WHEN i %% 1000 = 0 THEN 'denied' ELSE 'success' END,
                '', '', '', md5((i - 1)::text) || md5((i - 1)::text), md5(i::text) || md5(i::text)
            FROM generate_series(1, %s) AS i
            """,
            [start, n],
        )
        cursor.execute("ANALYZE audit_auditevent")


def _plan(qs: Any) -> dict[str, Any]:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        return cursor.fetchone()[0][0]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _assert_cheap(qs: Any, why: str) -> None:
    plan = _plan(qs)
    nodes = _nodes(plan["Plan"])
    shape = [(n["Node Type"], n.get("Index Name", "")) for n in nodes]
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], (why, shape)
    assert not [n for n in nodes if n["Node Type"] == "Sort"], (why, shape)
    pages = plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
    # A page of 51 rows touches a few index pages and at most a block per row.
    assert pages < 300, (why, pages, shape)


SCALE_FILTERS = [
    AuditFilters(),
    AuditFilters(action="deployment.finished"),
    AuditFilters(action="approval.granted.rare"),
    AuditFilters(actor="user7"),
    AuditFilters(outcome="denied"),
    AuditFilters(until=date(2025, 1, 20)),
    AuditFilters(since=date(2025, 1, 20), until=date(2025, 1, 21)),
]


def test_a_page_reads_few_blocks_among_many_events() -> None:
    _fill(EVENTS)  # once: filling is the slow part
    for filters in SCALE_FILTERS:
        qs = events([1], filters)
        _assert_cheap(qs[:51], f"first page, {filters}")
        # Deep in the history, keyset paging costs what the first page does.
        _assert_cheap(qs.filter(seq__lt=EVENTS // 3)[:51], f"deep page, {filters}")
