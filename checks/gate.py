"""The gate: may release R go to environment E now?

One function, ``evaluate_gate``, answers with every reason the gate is shut, never only the
first. It fails closed: no run, a run still going, a run that ended in error, or no applicable
check keeps it shut. The rules (PRODUCT.md, "The gate"):

1. the latest readiness run for (R, E) is finished;
2. its score ≥ E.min_score;
3. no critical check is fail / error / pending;
4. at least E.required_approvals distinct approvers approved, none of them R's creator, and
   nobody's latest decision is reject; an approval is for the evidence its approver saw and goes
   stale when the evidence now is worse (``checks.snapshots``: a lower score, a check that was
   pass or waived that no longer is — in a later run or in the same run changed in place), or
   when it is older than E.approval_ttl;
5. E is not locked and not inside a freeze window;
6. if E.requires_previous, R has a succeeded deployment in the previous environment;
7. no other deployment is in progress in E.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
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
from releases.services.locks import Hold, environment_holds, holds_of

from . import scoring
from .evaluation import EffectiveResult, RunEvaluation, evaluate, evaluate_runs
from .models import ReadinessRun
from .snapshots import Snapshot, describe, moved

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
    stale: tuple[tuple[str, str], ...] = ()  # (who, what moved)
    not_counted: tuple[tuple[str, str], ...] = ()  # (who, why): no longer approvers, the creator
    ages_out_at: datetime | None = None  # when the first granted approval passes approval_ttl

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

    @property
    def changes_at(self) -> datetime | None:
        """The first moment time alone may change this answer (a waiver runs out, an approval
        ages out), so a kept answer is not used past it."""
        moments = [
            self.evaluation.changes_at if self.evaluation else None,
            self.approvals.ages_out_at,
        ]
        return min((m for m in moments if m is not None), default=None)


def latest_run(
    release: Release, environment: Environment, kind: str = ReadinessRun.Kind.READINESS
) -> ReadinessRun | None:
    return (
        ReadinessRun.objects.filter(release=release, environment=environment, kind=kind)
        .order_by("-created_at", "-id")
        .first()
    )


def evaluate_gate(
    release: Release,
    environment: Environment,
    *,
    now: datetime | None = None,
    sources: bool = True,
) -> GateDecision:
    """The gate's decision; ``sources=False`` when only the decision is wanted, not the
    evaluation's results with who reported them (``checks.evaluation.evaluate_runs``)."""
    now = now or timezone.now()
    run = latest_run(release, environment)
    if run is not None:
        run.release = release
    evaluation = (
        evaluate(run, now=now, sources=sources)
        if run is not None and run.status == ReadinessRun.Status.FINISHED
        else None
    )
    approvals = count_approvals(release, environment, evaluation, now)
    holds = environment_holds(environment, now)
    previous = environment.previous() if environment.requires_previous else None
    reached_previous = (
        previous is None
        or Deployment.objects.filter(
            release=release, environment=previous, status__in=GOOD_STATUSES
        ).exists()
    )
    return decide(
        release,
        environment,
        run=run,
        evaluation=evaluation,
        approvals=approvals,
        holds=holds,
        previous=previous,
        reached_previous=reached_previous,
    )


def evaluate_gates(
    releases: Sequence[Release],
    environments: Sequence[Environment],
    *,
    now: datetime | None = None,
    only: Collection[tuple[int, int]] | None = None,
) -> dict[tuple[int, int], GateDecision]:
    """The gate for every (release, environment) pair of the same project, in a fixed number
    of queries however many releases, environments and projects there are (a page showing many
    gates at once): the same rules as ``evaluate_gate``, over inputs loaded together. A release
    is paired only with its own project's environments. ``only``, when given, names the
    (release id, environment id) pairs wanted: the others are not evaluated (evaluating a run
    reads all its results, so a page asks only for the gates it shows)."""
    now = now or timezone.now()
    if only is not None:
        only = set(only)
        release_ids, environment_ids = {pair[0] for pair in only}, {pair[1] for pair in only}
        releases = [r for r in releases if r.pk in release_ids]
        environments = [e for e in environments if e.pk in environment_ids]
    if not releases or not environments:
        return {}
    project_ids = {release.project_id for release in releases}
    runs = {
        (run.release_id, run.environment_id): run
        for run in ReadinessRun.objects.filter(
            release__in=releases, environment__in=environments, kind=ReadinessRun.Kind.READINESS
        )
        .order_by("release_id", "environment_id", "-created_at", "-id")
        .distinct("release_id", "environment_id")
    }
    if only is not None:
        runs = {pair: run for pair, run in runs.items() if pair in only}
    by_id = {release.pk: release for release in releases}
    for run in runs.values():
        run.release = by_id[run.release_id]
    # The pages showing many gates show their decisions, not who reported each result.
    evaluations = evaluate_runs(
        [run for run in runs.values() if run.status == ReadinessRun.Status.FINISHED],
        now=now,
        sources=False,
    )
    latest = list(
        Approval.objects.filter(release__in=releases, environment__in=environments)
        .latest_per_person()
        .select_related("approver")
    )
    roles: dict[int, dict[int, str]] = {project_id: {} for project_id in project_ids}
    approvers = {a.approver_id for a in latest}
    for project_id, user_id, role in (
        Membership.objects.filter(project_id__in=project_ids, user_id__in=approvers).values_list(
            "project_id", "user_id", "role"
        )
        if approvers
        else ()
    ):
        roles[project_id][user_id] = role
    decisions: dict[tuple[int, int], list[Approval]] = {}
    for approval in latest:
        decisions.setdefault((approval.release_id, approval.environment_id), []).append(approval)
    # Each environment's previous one in its project's promotion order.
    previous_of: dict[int, Environment | None] = {}
    last: dict[int, Environment] = {}
    for env in Environment.objects.filter(project_id__in=project_ids).order_by(
        "project_id", "position"
    ):
        previous_of[env.pk] = last.get(env.project_id)
        last[env.project_id] = env
    reached = set(
        Deployment.objects.filter(release__in=releases, status__in=GOOD_STATUSES).values_list(
            "release_id", "environment_id"
        )
    )
    holds = holds_of(environments, now)
    gates = {}
    for environment in environments:
        previous = previous_of.get(environment.pk) if environment.requires_previous else None
        for release in releases:
            if release.project_id != environment.project_id:
                continue
            if only is not None and (release.pk, environment.pk) not in only:
                continue
            found = runs.get((release.pk, environment.pk))
            evaluation = evaluations.get(found.pk) if found is not None else None
            gates[release.pk, environment.pk] = decide(
                release,
                environment,
                run=found,
                evaluation=evaluation,
                approvals=tally_approvals(
                    release,
                    environment,
                    decisions.get((release.pk, environment.pk), []),
                    roles[release.project_id],
                    evaluation,
                    now,
                ),
                holds=holds[environment.pk],
                previous=previous,
                reached_previous=previous is None or (release.pk, previous.pk) in reached,
            )
    return gates


def decide(
    release: Release,
    environment: Environment,
    *,
    run: ReadinessRun | None,
    evaluation: RunEvaluation | None,
    approvals: ApprovalCount,
    holds: Sequence[Hold],
    previous: Environment | None,
    reached_previous: bool,
) -> GateDecision:
    """The seven rules over their inputs: ``evaluation`` is the finished ``run``'s (None for
    a run not finished), ``holds`` what holds the environment now, ``reached_previous``
    whether the release succeeded in ``previous``, the environment before (None when the
    environment does not require it)."""
    reasons: list[Reason] = []
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
    elif evaluation is not None and evaluation.overall is None:
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
            message += f" {stale_phrase(who, why)}."
        reasons.append(Reason("approvals_missing", message))

    # Rules 5 and 7: what holds the environment.
    reasons.extend(Reason(hold.code, hold.message) for hold in holds)

    # Rule 6: promotion order.
    if previous is not None and not reached_previous:
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


def stale_phrase(who: str, why: str) -> str:
    return f"Approval by {who} is stale: {why}"


def count_approvals(
    release: Release,
    environment: Environment,
    evaluation: RunEvaluation | None,
    now: datetime,
) -> ApprovalCount:
    latest = list(
        Approval.objects.filter(release=release, environment=environment)
        .latest_per_person()
        .select_related("approver")
    )
    roles = (
        dict(
            Membership.objects.filter(
                project_id=release.project_id, user_id__in=[a.approver_id for a in latest]
            ).values_list("user_id", "role")
        )
        if latest
        else {}
    )
    return tally_approvals(release, environment, latest, roles, evaluation, now)


def tally_approvals(
    release: Release,
    environment: Environment,
    latest: Iterable[Approval],
    roles: Mapping[int, str],
    evaluation: RunEvaluation | None,
    now: datetime,
) -> ApprovalCount:
    """Rule 4 over each person's latest decision (``latest``) and the members' roles. With no
    finished run to compare with (none yet, or a later one still going) approvals are not judged
    stale: rule 1 keeps the gate shut meanwhile."""
    current = Snapshot.of(evaluation) if evaluation is not None else None
    granted, rejected, stale, not_counted = [], [], [], []
    ages_out = []
    for approval in latest:
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
        why_stale = staleness(approval, environment, current, now)
        if why_stale:
            stale.append((who, why_stale))
            continue
        granted.append(who)
        if environment.approval_ttl is not None:
            ages_out.append(approval.created_at + environment.approval_ttl)
    return ApprovalCount(
        required=environment.required_approvals,
        granted=tuple(sorted(granted)),
        rejected=tuple(sorted(rejected)),
        stale=tuple(sorted(stale)),
        not_counted=tuple(sorted(not_counted)),
        ages_out_at=min(ages_out, default=None),
    )


def staleness(
    approval: Approval, environment: Environment, current: Snapshot | None, now: datetime
) -> str:
    """Why an approval no longer counts, in words, or "" while it does."""
    if (
        environment.approval_ttl is not None
        and now - approval.created_at > environment.approval_ttl
    ):
        return f"older than the {environment.name} approval lifetime"
    if approval.run_id is None:
        return "given before any readiness run had finished"
    if current is None:
        return ""
    return describe(moved(Snapshot.stored(approval.score, approval.evidence), current))
