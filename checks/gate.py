"""The gate: may release R go to environment E now?

One function, ``evaluate_gate``, answers with every reason the gate is shut, never only the
first. It fails closed: no run, a run still going, a run that ended in error, or no applicable
check keeps it shut. The rules (PRODUCT.md, "The gate"):

1. the latest readiness run for (R, E) is finished;
2. its score ≥ E.min_score;
3. no critical check is fail / error / pending;
4. at least E.required_approvals distinct approvers approved, none of them R's creator, and
   nobody's latest decision is reject; an approval goes stale when a later finished run scores
   lower or fails a check that passed in the run it was given on, or when it is older than
   E.approval_ttl;
5. E is not locked and not inside a freeze window;
6. if E.requires_previous, R has a succeeded deployment in the previous environment;
7. no other deployment is in progress in E.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from releases.access import Permission, permissions_of
from releases.models import (
    Approval,
    Decision,
    Deployment,
    Environment,
    Membership,
    Release,
)
from releases.models.deployments import GOOD_STATUSES
from releases.services.locks import Hold, environment_holds

from . import scoring
from .evaluation import EffectiveResult, RunEvaluation, evaluate
from .models import CheckResult, ReadinessRun, ResultStatus

STATUS_PHRASE = {
    "fail": "failing",
    "error": "in error (it could not run)",
    "pending": "not done yet",
}


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ApprovalCount:
    required: int
    granted: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (who, why)
    stale: tuple[tuple[str, str], ...] = ()  # (who, why)
    not_counted: tuple[tuple[str, str], ...] = ()  # (who, why): no longer approvers, the creator

    @property
    def missing(self) -> int:
        return max(self.required - len(self.granted), 0)


@dataclass(frozen=True)
class GateDecision:
    release: Release
    environment: Environment
    allowed: bool
    reasons: tuple[Reason, ...]
    run: ReadinessRun | None
    evaluation: RunEvaluation | None
    approvals: ApprovalCount
    holds: tuple[Hold, ...] = field(default=())

    @property
    def score(self) -> Decimal | None:
        return self.evaluation.overall if self.evaluation else None

    @property
    def min_score(self) -> Decimal:
        return self.environment.min_score

    @property
    def blockers(self) -> list[EffectiveResult]:
        return self.evaluation.blockers if self.evaluation else []


def latest_run(
    release: Release, environment: Environment, kind: str = ReadinessRun.Kind.READINESS
) -> ReadinessRun | None:
    return (
        ReadinessRun.objects.filter(release=release, environment=environment, kind=kind)
        .order_by("-created_at", "-id")
        .first()
    )


def evaluate_gate(
    release: Release, environment: Environment, *, now: datetime | None = None
) -> GateDecision:
    now = now or timezone.now()
    reasons: list[Reason] = []
    run = latest_run(release, environment)
    evaluation = None
    env_name = environment.name

    # Rule 1: a finished run with applicable checks.
    if run is None:
        reasons.append(
            Reason(
                "no_run",
                f"No readiness run for {release.version} in {env_name} yet: run the checks.",
            )
        )
    elif run.status in (ReadinessRun.Status.QUEUED, ReadinessRun.Status.RUNNING):
        reasons.append(
            Reason(
                "run_in_progress",
                f"Readiness run #{run.pk} is still {run.status}; wait for it to finish.",
            )
        )
    elif run.status == ReadinessRun.Status.ERROR:
        reasons.append(
            Reason(
                "run_error",
                f"Readiness run #{run.pk} ended in error: {run.error or 'no reason given'}.",
            )
        )
    else:
        evaluation = evaluate(run, now=now)
        if evaluation.overall is None:
            reasons.append(
                Reason(
                    "no_checks",
                    f"No readiness check applies to {env_name}: add checks to the catalog.",
                )
            )

    # Rules 2 and 3: the score and the critical checks.
    if evaluation is not None and evaluation.overall is not None:
        if not scoring.meets_minimum(evaluation.overall, environment.min_score):
            reasons.append(
                Reason(
                    "score_below_minimum",
                    f"Readiness score {evaluation.overall} is below the {environment.min_score} {env_name} requires.",
                )
            )
        for blocker in evaluation.blockers:
            reasons.append(
                Reason(
                    "critical_check",
                    f"Critical check {blocker.check.code} ({blocker.check.title}) is {STATUS_PHRASE[blocker.status]}.",
                )
            )

    # Rule 4: approvals.
    approvals = count_approvals(release, environment, evaluation, now)
    for who, why in approvals.rejected:
        reasons.append(
            Reason("rejected", f"{who} rejected {release.version} for {env_name}: {why}")
        )
    if approvals.missing:
        have = len(approvals.granted)
        message = f"{have} of {approvals.required} required approvals"
        if approvals.granted:
            message += f" ({', '.join(approvals.granted)})"
        message += f"; {approvals.missing} more needed."
        for who, why in approvals.stale:
            message += f" {who}'s approval is stale: {why}."
        reasons.append(Reason("approvals_missing", message))

    # Rules 5 and 7: what holds the environment.
    holds = environment_holds(environment, now)
    reasons.extend(Reason(hold.code, hold.message) for hold in holds)

    # Rule 6: promotion order.
    if environment.requires_previous:
        previous = environment.previous()
        if (
            previous is not None
            and not Deployment.objects.filter(
                release=release, environment=previous, status__in=GOOD_STATUSES
            ).exists()
        ):
            reasons.append(
                Reason(
                    "previous_environment",
                    f"{release.version} has not succeeded in {previous.name} yet; {env_name} requires that first.",
                )
            )

    return GateDecision(
        release=release,
        environment=environment,
        allowed=not reasons,
        reasons=tuple(reasons),
        run=run,
        evaluation=evaluation,
        approvals=approvals,
        holds=tuple(holds),
    )


def count_approvals(
    release: Release,
    environment: Environment,
    evaluation: RunEvaluation | None,
    now: datetime,
) -> ApprovalCount:
    latest: dict[int, Approval] = {}
    for approval in (
        Approval.objects.filter(release=release, environment=environment)
        .select_related("approver", "run")
        .order_by("-created_at", "-id")
    ):
        latest.setdefault(approval.approver_id, approval)  # a person's latest decision counts

    roles = dict(
        Membership.objects.filter(project_id=release.project_id, user_id__in=latest).values_list(
            "user_id", "role"
        )
    )
    passed_in = _passed_checks([a.run_id for a in latest.values() if a.run_id])
    current_run = evaluation.run if evaluation else None
    failing_now = (
        {r.result.check_item_id for r in evaluation.results if r.status in scoring.NON_PASSING}
        if evaluation
        else set()
    )

    granted, rejected, stale, not_counted = [], [], [], []
    for approval in latest.values():
        who = approval.approver.get_username()
        if approval.approver_id == release.created_by_id:
            not_counted.append((who, "created the release (four-eyes rule)"))
            continue
        if not approval.approver.is_active or Permission.APPROVE not in permissions_of(
            roles.get(approval.approver_id)
        ):
            not_counted.append((who, "is no longer an approver in this project"))
            continue
        if approval.decision == Decision.REJECT:
            rejected.append((who, approval.comment))
            continue
        why_stale = _staleness(approval, environment, current_run, failing_now, passed_in, now)
        if why_stale:
            stale.append((who, why_stale))
        else:
            granted.append(who)
    return ApprovalCount(
        required=environment.required_approvals,
        granted=tuple(sorted(granted)),
        rejected=tuple(rejected),
        stale=tuple(stale),
        not_counted=tuple(not_counted),
    )


def _passed_checks(run_ids: list[int]) -> dict[int, set[int]]:
    passed: dict[int, set[int]] = {run_id: set() for run_id in run_ids}
    if run_ids:
        for run_id, check_id in CheckResult.objects.filter(
            run_id__in=run_ids, status=ResultStatus.PASS
        ).values_list("run_id", "check_item_id"):
            passed[run_id].add(check_id)
    return passed


def _staleness(
    approval: Approval,
    environment: Environment,
    current_run: ReadinessRun | None,
    failing_now: set[int],
    passed_in: dict[int, set[int]],
    now: datetime,
) -> str:
    if (
        environment.approval_ttl is not None
        and now - approval.created_at > environment.approval_ttl
    ):
        return f"older than the {environment.name} approval lifetime"
    if approval.run is None:
        return "given before any readiness run had finished"
    if current_run is None or current_run.pk == approval.run_id:
        return ""
    seen, latest = approval.run.score, current_run.score
    if seen is not None and latest is not None and latest < seen:
        return f"run #{current_run.pk} scored {latest}, lower than the {seen} it was given on"
    newly_failing = passed_in.get(approval.run.pk, set()) & failing_now
    if newly_failing:
        return f"run #{current_run.pk} fails {len(newly_failing)} check(s) that passed when it was given"
    return ""
