"""Exporting the audit log as CSV or JSON Lines, streamed row by row.

An export is itself an audit event (``audit.exported``), recorded before the first row goes out
with the filters and format it was asked with: who took a copy of the history is history too."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from . import services
from .actors import Actor
from .log import AuditFilters
from .models import AuditEvent

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl"),
}
COLUMNS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "outcome",
    "object_type",
    "object_id",
    "object_repr",
    "project_id",
    "message",
    "before",
    "after",
    "ip",
    "request_id",
    "prev_hash",
    "hash",
)
CHUNK = 2000
# A spreadsheet runs a cell starting with one of these as a formula; a leading quote keeps an
# event's text (which users may have typed) from becoming one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _row(event: AuditEvent) -> dict[str, Any]:
    row = {name: getattr(event, name) for name in COLUMNS}
    row["occurred_at"] = event.occurred_at.isoformat()
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(qs: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    for event in qs.iterator(chunk_size=CHUNK):
        row = _row(event)
        writer.writerow([_cell(row[name]) for name in COLUMNS])
        yield flush()


def jsonl_lines(qs: QuerySet[AuditEvent]) -> Iterator[str]:
    for event in qs.iterator(chunk_size=CHUNK):
        yield json.dumps(_row(event), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


def audit_export(
    *,
    actor: Actor,
    project_id: int | None,
    qs: QuerySet[AuditEvent],
    filters: AuditFilters,
    fmt: str,
    projects: list[str] | None = None,
    unscoped: bool = False,
) -> Iterator[str]:
    """Record the export, then return its lines. ``qs`` holds only events the actor may read:
    the caller has checked the actor's access to the projects. An export of several projects
    is recorded with no project, naming them (and saying so when it holds the events of no
    project, which staff may read)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    services.record(
        actor=actor,
        action="audit.exported",
        project_id=project_id,
        after={"format": fmt, "filters": filters.as_dict()}
        | ({"projects": projects} if project_id is None and projects is not None else {})
        | ({"no_project_events": True} if unscoped else {}),
    )
    # Oldest first, as a log is read; the export's own event is its last line when it matches.
    qs = qs.order_by("seq")
    return csv_lines(qs) if fmt == "csv" else jsonl_lines(qs)
