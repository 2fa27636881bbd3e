"""Writing audit events. Every audited change calls ``record`` inside the transaction that makes
the change, so the two commit or roll back together."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from core import locking
from core.errors import Denied, NotFound, PreflightError

from . import context
from .actors import Actor
from .chain import GENESIS_HASH, event_hash
from .models import AuditEvent

# Appending reads the chain's head and writes the next link; two transactions doing that at once
# would fork the chain. ``locking.audit_chain`` serialises appends until the commit; services take
# their row locks before recording, never after, so it is the last lock a transaction takes.


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _jsonable(value: Any) -> Any:
    """Plain JSON that survives a database round trip unchanged (floats become strings: jsonb
    may print them differently than Python, which would break the hash)."""
    if value is None:
        return None
    data = json.loads(json.dumps(value, cls=_Encoder))
    return _no_floats(data)


def _no_floats(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _no_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_floats(v) for v in value]
    return value


def record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    project_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    message: str = "",
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor.label[:200],
        actor_user_id=getattr(actor.user, "pk", None),
        actor_token_id=getattr(actor.token, "pk", None),
        project_id=project_id,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        before=_jsonable(before),
        after=_jsonable(after),
        outcome=outcome,
        message=message,
        ip=context.client_ip.get() or "",
        request_id=context.request_id.get(),
    )
    with transaction.atomic():
        locking.audit_chain()
        head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        event.seq, event.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


def record_denied(
    *,
    actor: Actor,
    action: str,
    reason: str,
    obj: models.Model | None = None,
    project_id: int | None = None,
    attempted: Mapping[str, Any] | None = None,
) -> AuditEvent:
    return record(
        actor=actor,
        action=action,
        obj=obj,
        project_id=project_id,
        after=attempted,
        outcome=AuditEvent.Outcome.DENIED,
        message=reason,
    )


@contextmanager
def refusals_recorded(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    project_id: int | None = None,
    attempted: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """Record an attempt the block refuses, after the block's own transaction rolled back.

    A permission refusal is recorded as ``denied``; a refusal by a rule (environment busy, gate
    closed, a conflicting version) as ``failure``. Wrap the service's ``transaction.atomic()``
    in this, not the other way round, or the record would be rolled back with the change."""
    try:
        yield
    except (Denied, PreflightError) as exc:
        if not getattr(exc, "audited", False) and not isinstance(exc, NotFound):
            denied = isinstance(exc, Denied)
            record(
                actor=actor,
                action=action,
                obj=obj,
                project_id=project_id,
                after=attempted,
                outcome=AuditEvent.Outcome.DENIED if denied else AuditEvent.Outcome.FAILURE,
                message=exc.detail,
            )
            exc.audited = True
        raise


def snapshot(instance: models.Model, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a model instance, as the ``before``/``after`` of an event."""
    data: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        data[name] = getattr(instance, attname)
    return data
