"""Checks that answer later. A check whose evaluation returns ``Outcome.recheck_after`` (a
Prometheus watch during post-deploy verification) is evaluated again by a short task scheduled
with a countdown, never by a worker waiting for the duration. The run stays ``running`` until
every such check has given its final answer; the last one finishes the run, which concludes the
verification (and rolls back, where the environment says so).

Safe to deliver twice and to lose. Each scheduled evaluation carries the run's lease and the
result's tick and writes only while both are current, so a duplicate or a stale one changes
nothing. The run's heartbeat is set to when the next evaluation is due: the reaper takes the
run over only once that evaluation is overdue by STALE_AFTER, and the worker taking it over
continues the watch from what the result's data has seen so far."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from celery import current_app
from django.db.models import Q
from django.utils import timezone

from core import metrics

from ..kinds import get_kind
from ..models import CheckResult, ReadinessRun, ResultStatus
from .sources import last_verified_release


def tick_of(data: Any) -> int:
    """Which evaluation last wrote the result (0: none asked for another)."""
    recheck = data.get("recheck") if isinstance(data, dict) else None
    return int(recheck.get("tick", 0)) if isinstance(recheck, dict) else 0


def schedule(run_id: int, lease: uuid.UUID) -> bool:
    """Schedule the next evaluation of each check of the run that asked for one. False when
    none did, or when the run's outcome is decided anyway: it can finish."""
    if _decided(run_id):
        _stop_watches(run_id, lease)
        return False
    waiting = [
        (pk, data)
        for pk, data in CheckResult.objects.filter(
            run_id=run_id,
            run__lease=lease,
            run__status=ReadinessRun.Status.RUNNING,
            evaluated_at__isnull=True,
        ).values_list("pk", "data")
        if tick_of(data)
    ]
    for pk, data in waiting:
        _enqueue(run_id, pk, lease, tick_of(data), float(data["recheck"].get("after", 0)))
    return bool(waiting)


def _enqueue(run_id: int, result_id: int, lease: uuid.UUID | str, tick: int, after: float) -> None:
    due = timezone.now() + timedelta(seconds=after)
    # The run's heartbeat says when its worker will next be heard of; never moved earlier
    # (another check of the run may be due later).
    ReadinessRun.objects.filter(pk=run_id, lease=lease).filter(
        Q(heartbeat_at__lt=due) | Q(heartbeat_at__isnull=True)
    ).update(heartbeat_at=due)
    # By the task's name: tasks import services, never the other way round.
    current_app.send_task(
        "checks.tasks.recheck_result", args=(run_id, result_id, str(lease), tick), countdown=after
    )


def result_recheck(*, run_id: int, result_id: int, lease: str, tick: int) -> None:
    """Evaluate a check again, if the result still waits for this very evaluation; then
    schedule the next one, or — the check's final answer given — finish the run when nothing
    else in it is still to come."""
    from .runs import _context, _evaluate, _Pending, result_columns, run_finish

    current = {
        "pk": result_id,
        "run_id": run_id,
        "run__lease": lease,
        "run__status": ReadinessRun.Status.RUNNING,
        "evaluated_at__isnull": True,
    }
    result = (
        CheckResult.objects.select_related(
            "check_item", "run__release__project", "run__environment"
        )
        .filter(**current)
        .first()
    )
    # Finished, taken over by another worker, or this evaluation already ran: not ours.
    if result is None or tick_of(result.data) != tick:
        return
    run, check = result.run, result.check_item
    verified = (
        last_verified_release(run.release, run.environment)
        if get_kind(check.kind).compares_releases or run.release.project.repository
        else None
    )
    item = _Pending(
        result_id=result_id,
        context=_context(run, check, verified, previous=result.data),
        kind=check.kind,
        tick=tick + 1,
    )
    outcome, duration_ms = _evaluate(item)
    written = CheckResult.objects.filter(**current, data__recheck__tick=tick).update(
        **result_columns(outcome, duration_ms, tick=tick + 1)
    )
    if not written:
        return
    metrics.check_evaluated(kind=check.kind, status=outcome.status, seconds=duration_ms / 1000)
    if outcome.recheck_after is not None:
        _enqueue(run_id, result_id, lease, tick + 1, outcome.recheck_after)
    elif _decided(run_id):
        _stop_watches(run_id, lease)
        run_finish(run_id, uuid.UUID(lease))


def _decided(run_id: int) -> bool:
    """Whether the run's outcome is known: nothing is still to come, or — in a verification —
    a check has failed already. Verification fails then whatever the watches would say, and the
    rollback must not wait for them (a failed key objective is meant to act at once)."""
    results = CheckResult.objects.filter(run_id=run_id)
    if not results.filter(evaluated_at__isnull=True).exists():
        return True
    return (
        ReadinessRun.objects.filter(pk=run_id, kind=ReadinessRun.Kind.VERIFICATION).exists()
        and results.filter(
            evaluated_at__isnull=False, status__in=(ResultStatus.FAIL, ResultStatus.ERROR)
        ).exists()
    )


def _stop_watches(run_id: int, lease: uuid.UUID | str) -> None:
    """Watches the run no longer waits for stay ``pending`` and say why; their scheduled
    evaluations find the run finished and write nothing."""
    CheckResult.objects.filter(
        run_id=run_id,
        run__lease=lease,
        run__status=ReadinessRun.Status.RUNNING,
        evaluated_at__isnull=True,
    ).update(
        detail="Not watched to the end: the verification had failed on another check.",
        updated_at=timezone.now(),
    )
