"""The audit hash chain: how an event's hash is computed, and how the whole chain is verified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .models import AuditEvent

GENESIS_HASH = "0" * 64

# Every column but the hash itself. Adding a field to AuditEvent means adding it here, or it
# would not be protected by the chain.
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "actor_user_id",
    "actor_token_id",
    "project_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "outcome",
    "message",
    "ip",
    "request_id",
    "prev_hash",
)


def canonical_json(event: AuditEvent) -> bytes:
    payload: dict[str, Any] = {name: getattr(event, name) for name in HASHED_FIELDS}
    payload["occurred_at"] = event.occurred_at.isoformat()
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(event.prev_hash.encode() + canonical_json(event)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    bad_id: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return (
                f"audit chain intact: {self.checked} events; head {self.head_seq}:{self.head_hash}"
            )
        return f"audit chain broken at event #{self.bad_seq} (id {self.bad_id}): {self.problem}"


def verify_events(
    events: Iterable[AuditEvent], *, after_seq: int = 0, after_hash: str = GENESIS_HASH
) -> ChainReport:
    """Walk events in ``seq`` order and report the first one that breaks the chain. By default
    the walk starts at the genesis; ``after_seq``/``after_hash`` start it after a known link."""
    expected_seq, expected_prev, checked = after_seq + 1, after_hash, 0
    for event in events:
        problem = _first_problem(event, expected_seq, expected_prev)
        if problem:
            return ChainReport(
                ok=False,
                checked=checked,
                head_seq=expected_seq - 1,
                head_hash=expected_prev,
                bad_seq=event.seq,
                bad_id=event.pk,
                problem=problem,
            )
        expected_seq, expected_prev, checked = event.seq + 1, event.hash, checked + 1
    return ChainReport(ok=True, checked=checked, head_seq=expected_seq - 1, head_hash=expected_prev)


def _first_problem(event: AuditEvent, expected_seq: int, expected_prev: str) -> str:
    if event_hash(event) != event.hash:
        return "its contents do not match its hash (the event was altered)"
    if event.seq != expected_seq:
        if event.seq > expected_seq:
            return (
                f"expected event #{expected_seq} next, found #{event.seq} "
                "(events were deleted before it)"
            )
        return f"sequence number out of order after #{expected_seq - 1} (events were reordered)"
    if event.prev_hash != expected_prev:
        return (
            "it does not link to the event before it (an event was inserted, deleted or reordered)"
        )
    return ""


def iter_chain(chunk_size: int = 5000, *, after_seq: int = 0) -> Iterator[AuditEvent]:
    events = AuditEvent.objects.filter(seq__gt=after_seq) if after_seq else AuditEvent.objects
    return events.order_by("seq").iterator(chunk_size=chunk_size)


def verify_chain() -> ChainReport:
    return verify_events(iter_chain())
