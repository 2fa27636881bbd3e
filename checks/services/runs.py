"""Readiness runs: starting them, executing them in a worker, and keeping them from getting stuck.

A run's results are created with the run (all ``pending``), so pages show every check at once;
the worker then writes each result as soon as it is known. Execution is claimed with a
compare-and-swap on the run row (status, heartbeat, a fresh ``lease``), so a run is executed by
one worker at a time, a redelivered task finds the run taken or done and leaves it alone, and a
worker that died mid-run is replaced by the reaper once its heartbeat goes stale. After
MAX_ATTEMPTS take-overs the run ends as ``error`` with the reason."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking, metrics
from core.outbox.relay import task_queue
from releases import webhooks
from releases.access import Permission, require
from releases.models import Deployment, DeploymentStatus, Environment, Release

from ..announcements import announce_if_opened
from ..evaluation import evaluate
from ..kinds import CheckContext, Outcome, get_kind
from ..kinds.base import VerifiedRelease
from ..models import Check, CheckResult, ReadinessRun, ResultStatus
from .sources import last_verified_release

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 5.0
# A running run whose heartbeat is older than this has lost its worker. Well above the
# heartbeat interval, so a busy but healthy worker is never mistaken for a dead one.
STALE_AFTER = timedelta(seconds=60)
# How long past its own time limit a check may run before the run records it as timed out and
# moves on (the kind's own timeout normally answers first).
OVERRUN_GRACE_SECONDS = 5.0
# A queued run nobody took up for this long (the broker lost the message) is queued again.
QUEUED_TOO_LONG = timedelta(minutes=2)
WORKER = Actor.of_system("readiness-run")


def applicable_checks(release: Release, environment: Environment, kind: str) -> list[Check]:
    """The checks a run of ``kind`` evaluates for the release in this environment."""
    return list(
        Check.objects.applicable(release.project_id, environment, kind)
        .select_related("category")
        .order_by("position", "code")
    )


def run_start(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    kind: str = ReadinessRun.Kind.READINESS,
    deployment: Deployment | None = None,
) -> tuple[ReadinessRun, bool]:
    """Queue a run of every applicable check. Returns (run, created): while a run of the same
    kind for the release and environment is queued or running, that run is returned instead; a
    deployment's verification run is started once, however often it is asked for."""
    project = release.project
    with audit.refusals_recorded(
        actor=actor,
        action="run.started",
        obj=release,
        project_id=project.pk,
        attempted={"environment": environment.slug, "kind": kind},
    ):
        require(actor, project, Permission.RUN_CHECKS)
        if environment.project_id != project.pk:
            raise ValidationError({"environment": "The environment belongs to another project."})
        with transaction.atomic():
            # Serialise run starts per environment so two clicks make one run, not two.
            locking.row(Environment, environment.pk)
            if deployment is None:
                active = (
                    ReadinessRun.objects.filter(
                        release=release,
                        environment=environment,
                        kind=kind,
                        status__in=(ReadinessRun.Status.QUEUED, ReadinessRun.Status.RUNNING),
                    )
                    .order_by("-created_at")
                    .first()
                )
            else:
                # A deployment is verified once, however often its success is announced.
                active = ReadinessRun.objects.filter(deployment=deployment, kind=kind).first()
            if active is not None:
                return active, False
            run = ReadinessRun.objects.create(
                release=release,
                environment=environment,
                kind=kind,
                deployment=deployment,
                requested_by=actor.user,
                requested_by_token=actor.token,
            )
            CheckResult.objects.bulk_create(
                CheckResult(
                    run=run,
                    check_item=check,
                    category=check.category,
                    severity=check.severity,
                    status=ResultStatus.PENDING,
                )
                for check in applicable_checks(release, environment, kind)
            )
            audit.record(
                actor=actor,
                action="run.started",
                obj=run,
                project_id=project.pk,
                after={"release": release.version, "environment": environment.slug, "kind": kind},
            )
            enqueue(run.pk)
    return run, True


def enqueue(run_id: int) -> None:
    """Queue the run's execution in the outbox: sent to a worker once the transaction commits."""
    task_queue("checks.tasks.execute_run", run_id)


def _claim(run_id: int, now: datetime) -> uuid.UUID | None:
    """Take the run if it is queued, or running with a stale heartbeat; None if it is someone
    else's or done."""
    lease = uuid.uuid4()
    claimed = (
        ReadinessRun.objects.filter(pk=run_id)
        .filter(
            Q(status=ReadinessRun.Status.QUEUED)
            | Q(status=ReadinessRun.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        )
        .update(status=ReadinessRun.Status.RUNNING, lease=lease, heartbeat_at=now)
    )
    return lease if claimed else None


def _heartbeat(run_id: int, lease: uuid.UUID) -> bool:
    """Keep the run ours. False: another worker took it over, so this one must stop writing."""
    return bool(
        ReadinessRun.objects.filter(
            pk=run_id, lease=lease, status=ReadinessRun.Status.RUNNING
        ).update(heartbeat_at=timezone.now())
    )


@dataclass(frozen=True)
class _Pending:
    result_id: int
    context: CheckContext
    kind: str
    tick: int = 1  # which evaluation of the check in this run (more than one: a recheck)


def run_execute(run_id: int) -> ReadinessRun | None:
    """Execute a run (the Celery task calls this). Safe to call twice or concurrently."""
    from . import rechecks

    now = timezone.now()
    lease = _claim(run_id, now)
    if lease is None:
        return None
    run = ReadinessRun.objects.select_related("release__project", "environment").get(pk=run_id)
    attempts = ReadinessRun.objects.filter(pk=run_id).values_list("attempts", flat=True).get() + 1
    ReadinessRun.objects.filter(pk=run_id).update(
        attempts=attempts, started_at=run.started_at or now
    )
    if attempts > MAX_ATTEMPTS:
        return run_fail(
            run_id,
            f"Gave up after {MAX_ATTEMPTS} attempts: the worker running it stopped each time.",
        )

    unevaluated = list(
        CheckResult.objects.filter(run_id=run_id, evaluated_at__isnull=True).select_related(
            "check_item"
        )
    )
    # Git rules and baselines compare the release with what the environment runs; asked once
    # per run.
    verified = (
        last_verified_release(run.release, run.environment)
        if run.release.project.repository
        or any(get_kind(r.check_item.kind).compares_releases for r in unevaluated)
        else None
    )
    # A check that asked to be evaluated again (a watch) is taken up where it was: a worker
    # taking the run over continues it rather than starting it afresh.
    todo = [
        _Pending(
            result_id=r.pk,
            context=_context(run, r.check_item, verified, previous=r.data or None),
            kind=r.check_item.kind,
            tick=rechecks.tick_of(r.data) + 1,
        )
        for r in unevaluated
    ]
    local = [p for p in todo if not get_kind(p.kind).io_bound]
    remote = [p for p in todo if get_kind(p.kind).io_bound]
    held = _Lease(run_id=run_id, id=lease, last_beat=time.monotonic())
    try:
        for item in local:
            if not _record(held, item, _evaluate(item)):
                return None
        if remote and not _execute_concurrently(run_id, held, remote):
            return None
    except Exception as exc:  # a bug in a kind must end the run, not leave it running
        log.exception("readiness run %s failed", run_id)
        return run_fail(
            run_id, f"The run stopped on an unexpected error: {type(exc).__name__}: {exc}"
        )
    if rechecks.schedule(run_id, lease):
        return run  # some check answers later; its last evaluation finishes the run
    return run_finish(run_id, lease)


def _context(
    run: ReadinessRun,
    check: Check,
    verified: VerifiedRelease | None = None,
    previous: dict[str, Any] | None = None,
) -> CheckContext:
    return CheckContext(
        check_id=check.pk,
        code=check.code,
        config=check.config,
        project_slug=run.release.project.slug,
        release_id=run.release_id,
        version=run.release.version,
        git_sha=run.release.git_sha,
        environment_id=run.environment_id,
        environment_slug=run.environment.slug,
        timeout=get_kind(check.kind).timeout_for(
            check.config, float(settings.PREFLIGHT_CHECK_TIMEOUT_SECONDS)
        ),
        as_of=run.created_at,
        severity=check.severity,
        created_by_id=run.release.created_by_id,
        run_id=run.pk,
        repository=run.release.project.repository or None,
        verified=verified,
        run_kind=run.kind,
        previous=previous,
    )


def _evaluate(item: _Pending) -> tuple[Outcome, int]:
    started = time.perf_counter()
    try:
        outcome = get_kind(item.kind).evaluate(item.context)
    except Exception as exc:  # the check could not run: that is its result
        log.warning("check %s raised %s", item.context.code, type(exc).__name__, exc_info=True)
        outcome = Outcome(
            ResultStatus.ERROR, f"The check could not run: {type(exc).__name__}: {exc}"
        )
    return outcome, int((time.perf_counter() - started) * 1000)


def _execute_concurrently(run_id: int, lease: _Lease, items: list[_Pending]) -> bool:
    """Evaluate I/O-bound checks in a bounded thread pool, writing each result as it arrives.
    Each check gets its own deadline; one that overruns is recorded as an error and left behind."""
    pool = ThreadPoolExecutor(
        max_workers=min(settings.PREFLIGHT_CHECK_CONCURRENCY, len(items)),
        thread_name_prefix=f"run{run_id}",
    )
    try:
        futures: dict[Future[tuple[Outcome, int]], tuple[_Pending, float]] = {
            pool.submit(_evaluate, item): (
                item,
                time.monotonic() + item.context.timeout + OVERRUN_GRACE_SECONDS,
            )
            for item in items
        }
        while futures:
            # Wake for the heartbeat or the first deadline, whichever comes first, so an overrun
            # is recorded when it happens rather than up to a heartbeat later.
            first_deadline = min(deadline for _, deadline in futures.values())
            done, _ = wait(
                futures,
                timeout=max(0.01, min(HEARTBEAT_SECONDS, first_deadline - time.monotonic())),
                return_when=FIRST_COMPLETED,
            )
            for future in done:
                item, _deadline = futures.pop(future)
                if not _record(lease, item, future.result()):
                    return False
            now = time.monotonic()
            for future, (item, deadline) in list(futures.items()):
                if now > deadline:
                    futures.pop(future)
                    overrun = Outcome(
                        ResultStatus.ERROR, f"Timed out after {item.context.timeout:g} s."
                    )
                    if not _record(lease, item, (overrun, int(item.context.timeout * 1000))):
                        return False
            if not done and not lease.beat_if_due():
                return False
        return True
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _record(lease: _Lease, item: _Pending, evaluated: tuple[Outcome, int]) -> bool:
    """Write one result, only while the run is still ours (one statement: the lease is checked
    in the UPDATE itself), and beat the heart when due. False if the run is no longer ours."""
    outcome, duration_ms = evaluated
    written = CheckResult.objects.filter(
        pk=item.result_id, run__lease=lease.id, run__status=ReadinessRun.Status.RUNNING
    ).update(**result_columns(outcome, duration_ms, tick=item.tick))
    if written:
        metrics.check_evaluated(kind=item.kind, status=outcome.status, seconds=duration_ms / 1000)
    return bool(written) and lease.beat_if_due()


def result_columns(outcome: Outcome, duration_ms: int, *, tick: int) -> dict[str, Any]:
    """What a result's row says after an evaluation. One that asks to be evaluated again stays
    unevaluated (``evaluated_at`` empty: the run is not done with it) and notes its tick, so
    only the next evaluation it scheduled may write it."""
    now = timezone.now()
    data = stored_data(outcome)
    if outcome.recheck_after is not None:
        data = {**data, "recheck": {"tick": tick, "after": outcome.recheck_after}}
    return {
        "status": outcome.status,
        "detail": outcome.detail[:5000],
        "evidence_url": outcome.evidence_url[:500],
        "data": data,
        "duration_ms": duration_ms,
        "evaluated_at": None if outcome.recheck_after is not None else now,
        "updated_at": now,
        **provenance(outcome),
    }


# A result keeps at most this many findings (file, line, message): the report's "files requiring
# attention" lists them; evaluate_tree shows a tree's findings in full.
STORED_FINDINGS = 200


def stored_data(outcome: Outcome) -> dict[str, Any]:
    """The outcome's data, with its findings when a repository rule gave some and did not keep
    them in its data itself."""
    findings = getattr(outcome, "findings", ())
    if not findings or "findings" in outcome.data:
        return outcome.data
    return {
        **outcome.data,
        "findings": [
            {"file": f.file, "line": f.line, "message": f.message}
            for f in findings[:STORED_FINDINGS]
        ],
    }


def provenance(outcome: Outcome) -> dict[str, Any]:
    """The result's columns that say who produced it."""
    return {
        "source": outcome.source,
        "source_user_id": outcome.user_id,
        "source_token_id": outcome.token_id,
        "attested_by_id": outcome.attested_by_id,
    }


@dataclass
class _Lease:
    """The lease a worker holds on a run, and when it last told the database it is alive."""

    run_id: int
    id: uuid.UUID
    last_beat: float

    def beat_if_due(self) -> bool:
        if time.monotonic() - self.last_beat < HEARTBEAT_SECONDS:
            return True
        return self.beat()

    def beat(self) -> bool:
        self.last_beat = time.monotonic()
        return _heartbeat(self.run_id, self.id)


def run_finish(run_id: int, lease: uuid.UUID) -> ReadinessRun | None:
    with transaction.atomic():
        run = (
            locking.rows(ReadinessRun.objects)
            .select_related("release", "environment")
            .filter(pk=run_id, lease=lease, status=ReadinessRun.Status.RUNNING)
            .first()
        )
        if run is None:
            return None
        evaluation = evaluate(run)
        run.status = ReadinessRun.Status.FINISHED
        run.finished_at = timezone.now()
        run.score = evaluation.overall
        run.breakdown = breakdown(evaluation)
        run.save(update_fields=["status", "finished_at", "score", "breakdown"])
        audit.record(
            actor=WORKER,
            action="run.finished",
            obj=run,
            project_id=run.release.project_id,
            after={
                "score": run.score,
                "results": len(evaluation.results),
                "blockers": len(evaluation.blockers),
            },
        )
        webhooks.emit(
            project=run.release.project_id,
            event="run.finished",
            data={
                "run": run.pk,
                "kind": run.kind,
                "version": run.release.version,
                "environment": run.environment.slug,
                "status": run.status,
                "score": run.score,
                "blockers": [b.check.code for b in evaluation.blockers],
                "summary": f"Score {run.score}, {len(evaluation.blockers)} critical blocker(s).",
            },
        )
        _after_end(run_id)
        transaction.on_commit(partial(_count_end, run))
    return run


def _count_end(run: ReadinessRun) -> None:
    """Counted once the end is committed: a rolled-back finish did not happen."""
    began = run.started_at or run.created_at
    seconds = (run.finished_at - began).total_seconds() if run.finished_at and began else None
    metrics.run_ended(kind=run.kind, status=run.status, seconds=seconds)


def run_fail(run_id: int, reason: str) -> ReadinessRun | None:
    with transaction.atomic():
        run = (
            locking.rows(ReadinessRun.objects)
            .select_related("release")
            .filter(pk=run_id, status__in=(ReadinessRun.Status.QUEUED, ReadinessRun.Status.RUNNING))
            .first()
        )
        if run is None:
            return None
        run.status = ReadinessRun.Status.ERROR
        run.error = reason
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        audit.record(
            actor=WORKER,
            action="run.failed",
            obj=run,
            project_id=run.release.project_id,
            outcome="failure",
            message=reason,
        )
        _after_end(run_id)
        transaction.on_commit(partial(_count_end, run))
    return run


def _after_end(run_id: int) -> None:
    """What follows a run's end, run by the worker that ended it once the end commits (and by
    another worker if this one died first): queued with the end, in the outbox."""
    task_queue("checks.tasks.run_ended", run_id, here=True)


def run_ended(run_id: int) -> None:
    """Conclude a verification run's deployment; announce a gate a readiness run opened.
    Safe to run twice: both are decided from the rows."""
    from .verification import verification_conclude

    verification_conclude(run_id)
    run = (
        ReadinessRun.objects.filter(pk=run_id)
        .values("release_id", "environment_id", "kind")
        .first()
    )
    if run and run["kind"] == ReadinessRun.Kind.READINESS:
        announce_if_opened(run["release_id"], run["environment_id"])


def breakdown(evaluation: Any) -> dict[str, Any]:
    """What the run's score was made of when it finished, kept with the run for history."""
    score = evaluation.score
    return {
        "categories": [
            {
                "key": c.key,
                "name": c.name,
                "weight": c.weight,
                "score": None if c.score is None else str(c.score),
            }
            for c in score.categories
        ],
        "risk_summary": [row.as_dict() for row in evaluation.risk.rows]
        + [evaluation.risk.totals.as_dict()],
    }


def run_rescore(run: ReadinessRun) -> None:
    """Recompute a finished run's stored score after one of its results changed."""
    if run.status != ReadinessRun.Status.FINISHED:
        return
    evaluation = evaluate(run)
    ReadinessRun.objects.filter(pk=run.pk).update(
        score=evaluation.overall, breakdown=breakdown(evaluation)
    )
    run.score = evaluation.overall


def runs_reap(now: datetime | None = None) -> list[int]:
    """Requeue runs whose worker went silent (or whose message was lost), or end them as error
    once they have used their attempts. Returns the ids it acted on."""
    now = now or timezone.now()
    stuck = ReadinessRun.objects.filter(
        Q(status=ReadinessRun.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        | Q(status=ReadinessRun.Status.QUEUED, created_at__lt=now - QUEUED_TOO_LONG)
    ).values_list("pk", "attempts")
    acted = []
    for run_id, attempts in stuck:
        if attempts >= MAX_ATTEMPTS:
            run_fail(
                run_id,
                f"Gave up after {attempts} attempts: the worker running it stopped each time.",
            )
        else:
            enqueue(run_id)
        acted.append(run_id)
    # A worker that died between ending a verification run and concluding its deployment (the
    # on-commit step) left the deployment succeeded for ever; conclude it now (idempotent).
    from .verification import verification_conclude

    unconcluded = ReadinessRun.objects.filter(
        kind=ReadinessRun.Kind.VERIFICATION,
        status__in=(ReadinessRun.Status.FINISHED, ReadinessRun.Status.ERROR),
        finished_at__lt=now - STALE_AFTER,
        deployment__status=DeploymentStatus.SUCCEEDED,
    ).values_list("pk", flat=True)
    for run_id in unconcluded:
        verification_conclude(run_id)
        acted.append(run_id)
    return acted


def results_update_for(
    *, release: Release, environment: Environment, check: Check, outcome: Outcome
) -> Iterable[ReadinessRun]:
    """Write a result that became known outside a run (a tick, a CI report) into the latest
    readiness run of (release, environment), if that run covers the check."""
    run = (
        ReadinessRun.objects.filter(
            release=release, environment=environment, kind=ReadinessRun.Kind.READINESS
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if run is None:
        return []
    now = timezone.now()
    updated = CheckResult.objects.filter(run=run, check_item=check).update(
        status=outcome.status,
        detail=outcome.detail,
        evidence_url=outcome.evidence_url,
        evaluated_at=now,
        updated_at=now,
        **provenance(outcome),
    )
    if not updated:
        return []
    run_rescore(run)
    return [run]
