"""Reading the audit log: filters and keyset pagination on ``seq``.

Pages are "the N events before seq X", never OFFSET: the database walks an index from X and
stops after N rows, so the thousandth page costs what the first does, at a million events.
Every filter is written so an index can serve it (see the indexes on AuditEvent):
exact actor, exact action or an action prefix ending in "." (a range on the column), exact
object type and id, outcome, and a date range on ``occurred_at``.

The audit app depends on no other app: callers pass the project ids the reader may see, after
checking access themselves."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from .models import AuditEvent

PAGE_SIZE = 50
CLOCK_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filters in force, as recorded on an export and echoed in links."""
        data = {
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "outcome": self.outcome,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in data.items() if v}


def action_matches(action: str) -> Q:
    """``deployment.`` matches every action starting with it, as a range an index can walk;
    a bare family name (``deployment``, no dot) matches itself and that family, since that is
    what a person typing it means; anything else matches exactly."""
    if action.endswith("."):
        return _family(action)
    if "." not in action:
        return Q(action=action) | _family(action + ".")
    return Q(action=action)


def _family(prefix: str) -> Q:
    # "." + 1 is "/": every string with the prefix sorts in [prefix, prefix[:-1] + "/").
    return Q(action__gte=prefix, action__lt=prefix[:-1] + "/")


def events(
    project_ids: Collection[int], filters: AuditFilters, *, unscoped: bool = False
) -> QuerySet[AuditEvent]:
    """The events of these projects that pass the filters, newest first; with ``unscoped``,
    also the events of no project (sign-ins, refused requests, exports of several projects),
    which only staff may read."""
    scope = Q(project_id__in=list(project_ids))
    if unscoped:
        scope |= Q(project_id__isnull=True)
    qs = AuditEvent.objects.filter(scope)
    if filters.actor:
        qs = qs.filter(actor=filters.actor)
    if filters.action:
        qs = qs.filter(action_matches(filters.action))
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.since:
        start = _midnight(filters.since)
        qs = qs.filter(occurred_at__gte=start, seq__gt=_seq_floor(start))
    if filters.until:
        end = _midnight(filters.until) + timedelta(days=1)
        qs = qs.filter(occurred_at__lt=end, seq__lt=_seq_bound(end))
    return qs.order_by("-seq")


def _seq_floor(start: datetime) -> Coalesce:
    """A seq every event from ``start`` on is above (see ``_seq_bound``): the walk stops there."""
    earlier = (
        AuditEvent.objects.filter(occurred_at__lt=start - CLOCK_SLACK)
        .order_by("-occurred_at")
        .values("seq")[:1]
    )
    return Coalesce(Subquery(earlier), Value(0))


def _seq_bound(end: datetime) -> Coalesce:
    """A seq no event before ``end`` reaches, so a page of old events starts its index walk
    there instead of reading every newer event. ``occurred_at`` is taken just before an event
    waits for the chain lock, so time and seq can disagree by that wait: the first event
    ``CLOCK_SLACK`` after ``end`` is safely past every event before it."""
    later = (
        AuditEvent.objects.filter(occurred_at__gte=end + CLOCK_SLACK)
        .order_by("occurred_at")
        .values("seq")[:1]
    )
    return Coalesce(Subquery(later), Value(2**62))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent] = field(default_factory=list)
    # Pass as ``before`` for the next (older) page; None on the last page.
    next_before: int | None = None
    before: int | None = None


def page(qs: QuerySet[AuditEvent], *, before: int | None, size: int = PAGE_SIZE) -> Page:
    """The ``size`` newest events of ``qs`` older than ``before``: one query (it asks for one
    more row than it shows, to know whether an older page exists)."""
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(events=rows, next_before=rows[-1].seq if more else None, before=before)
