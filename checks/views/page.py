"""What the release page shows for (release, environment), gathered in a fixed number of
queries whatever the size of the catalog or the history. Every rule it shows comes from the
module that owns it: the gate, scoring, the four-eyes rule, access."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.urls import reverse

from checks.services.approvals import four_eyes_refusal
from checks.services.deployments import is_latest, last_good_release
from releases.access import Permission
from releases.forms import ApprovalForm, BreakGlassForm, DeployForm, RollbackForm
from releases.models import (
    Approval,
    Deployment,
    DeploymentStatus,
    Environment,
    Lock,
    Membership,
    Release,
    Role,
)
from releases.page_access import ProjectAccess
from releases.states import EnvironmentState, State, states_for

from .. import scoring
from ..evaluation import EffectiveResult, RunEvaluation, evaluate
from ..evidence import attestation_refusal, needs_attestation
from ..forms import AttestForm, CheckFilterForm, TickForm
from ..gate import GateDecision, evaluate_gate
from ..models import Attestation, Check, ManualTick, Phase, ReadinessRun, ResultStatus, Waiver
from ..services.sources import release_changes
from ..snapshots import Snapshot, if_status, stale_if
from .objectives import objective_panels

# How the page names each kind of gate reason, and the order blockers are listed in: what only
# a fix can clear first, then what people decide, then what holds the environment.
REASON_KINDS = {
    "critical_check": "Blocker",
    "rejected": "Rejected",
    "approvals_missing": "Approvals",
    "score_below_minimum": "Score",
    "locked": "Locked",
    "frozen": "Frozen",
    "deployment_in_progress": "Busy",
    "previous_environment": "Promotion",
    "no_run": "No run",
    "run_in_progress": "Run going",
    "run_error": "Run failed",
    "no_checks": "No checks",
}
_REASON_ORDER = {code: position for position, code in enumerate(REASON_KINDS)}

# Blockers shown at once in the decision; the rest one click away, so the action stays in view.
BLOCKERS_SHOWN = 3

GAUGE_RADIUS = 52
GAUGE_CIRCUMFERENCE = Decimal("326.73")  # 2π × 52, the arc the gauge fills


@dataclass
class CategoryRow:
    """One line of the weighted breakdown: weight × score / Σ weights = contribution."""

    name: str
    weight: int
    score: Decimal | None
    checks: int
    contribution: Decimal | None
    items: list[EffectiveResult] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        """Whether any shown check is not passing: those groups start open, the rest closed."""
        return any(item.status in scoring.NON_PASSING for item in self.items)


@dataclass
class ChecklistItem:
    check: Check
    tick: ManualTick | None
    result: EffectiveResult | None
    form: TickForm | None
    # Four eyes on evidence: the creator's tick of a critical check waits for a second person.
    needs_attestation: bool = False
    attestation: Attestation | None = None
    attest_form: AttestForm | None = None
    may_withdraw: bool = False
    # The approvals that unticking it would make stale (who, what would move): said before.
    untick_makes_stale: list[tuple[str, str]] = field(default_factory=list)

    @property
    def awaiting_attestation(self) -> bool:
        return self.needs_attestation and self.attestation is None


@dataclass
class ReleaseTarget:
    """A release in one environment, as the user may see it: what an action on the page acts
    on. The page itself (the gate and all) is built only for what is shown."""

    access: ProjectAccess
    release: Release
    environment: Environment

    @property
    def url(self) -> str:
        return reverse(
            "release", args=[self.access.project.slug, self.release.version, self.environment.slug]
        )


@dataclass
class ReleasePage(ReleaseTarget):
    environments: list[Environment]
    gate: GateDecision
    run: ReadinessRun | None
    evaluation: RunEvaluation | None
    filters: CheckFilterForm
    states: dict[int, EnvironmentState]  # environment id → the release's state there
    forms: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> EnvironmentState:
        return self.states[self.environment.pk]

    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.is_done


def load_release(access: ProjectAccess, version: str, env_slug: str) -> tuple[Release, Environment]:
    release = get_object_or_404(Release, project=access.project, version=version)
    environment = get_object_or_404(Environment, project=access.project, slug=env_slug)
    release.project = access.project
    environment.project = access.project
    return release, environment


def build_page(
    access: ProjectAccess,
    release: Release,
    environment: Environment,
    *,
    query: Any = None,
    forms: dict[str, Any] | None = None,
) -> ReleasePage:
    gate = evaluate_gate(release, environment)
    run = gate.run
    # While a run is going the gate has no evaluation; the page still shows its results as
    # they arrive, and the score they add up to so far.
    evaluation = gate.evaluation or (evaluate(run) if run is not None else None)
    filters = CheckFilterForm(query or None)
    environments = list(Environment.objects.filter(project=access.project).order_by("position"))
    for each in environments:
        each.project = access.project
    states = states_for([release], environments)
    return ReleasePage(
        access=access,
        release=release,
        environment=environment,
        environments=environments,
        gate=gate,
        run=run,
        evaluation=evaluation,
        filters=filters,
        states={env_id: state for (_, env_id), state in states.items()},
        forms=dict(forms or {}),
    )


def gauge(page: ReleasePage) -> dict[str, Any]:
    """The score gauge's geometry, drawn as SVG on the server."""
    # A run still going has no score yet: what it adds up to so far is not one (it read as a
    # red 2.3 while the run was queued).
    score = page.evaluation.overall if page.evaluation and not page.running else None
    minimum = page.environment.min_score
    filled = (score or Decimal(0)) / 100 * GAUGE_CIRCUMFERENCE
    threshold_angle = float(minimum) / 100 * 360 - 90
    if page.running:
        state = "running"
    elif score is None:
        state = "none"
    elif scoring.meets_minimum(score, minimum):
        state = "pass"
    else:
        state = "fail"
    return {
        "score": score,
        "minimum": minimum,
        "radius": GAUGE_RADIUS,
        "dash": f"{filled:.2f} {GAUGE_CIRCUMFERENCE}",
        "threshold_angle": f"{threshold_angle:.1f}",
        "state": state,
        "running": page.running,
    }


def breakdown(page: ReleasePage) -> list[CategoryRow]:
    """The categories with their checks; while a run is going the scores stay unknown."""
    if page.evaluation is None:
        return []
    score = page.evaluation.score
    items = {category.key: results for category, results in page.evaluation.by_category()}
    return [
        CategoryRow(
            name=category.name,
            weight=category.weight,
            score=None if page.running else category.score,
            checks=category.checks,
            contribution=None if page.running else _rounded(score.contribution(category)),
            items=_filtered(page, items.get(category.key, [])),
        )
        for category in score.categories
    ]


def _rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else scoring.round1(value)


def _filtered(page: ReleasePage, results: list[EffectiveResult]) -> list[EffectiveResult]:
    if not page.filters.is_valid():
        return results
    status = page.filters.cleaned_data["status"]
    severity = page.filters.cleaned_data["severity"]
    text = page.filters.cleaned_data["q"].strip().lower()
    kept = []
    for item in results:
        if status == "failing" and item.status not in scoring.NON_PASSING:
            continue
        if status and status != "failing" and item.status != status:
            continue
        if severity and item.severity != severity:
            continue
        if text and text not in f"{item.check.code} {item.check.title}".lower():
            continue
        kept.append(item)
    return kept


def approval_history(page: ReleasePage) -> list[Approval]:
    """Every decision on the release for the environment, newest first."""
    return list(
        Approval.objects.filter(release=page.release, environment=page.environment)
        .select_related("approver")
        .order_by("-created_at", "-id")
    )


def counted_snapshots(page: ReleasePage, history: list[Approval]) -> list[tuple[str, Snapshot]]:
    """What each approval that counts now was given on (each person's latest decision)."""
    granted = set(page.gate.approvals.granted)
    seen: set[int] = set()
    snapshots = []
    for approval in history:
        if approval.approver_id in seen:
            continue
        seen.add(approval.approver_id)
        who = approval.approver.get_username()
        if who in granted:
            snapshots.append((who, Snapshot.stored(approval.score, approval.evidence)))
    return snapshots


def _untick_makes_stale(
    page: ReleasePage, item: ChecklistItem, counted: list[tuple[str, Snapshot]]
) -> list[tuple[str, str]]:
    """The approvals that would go stale if the item were unticked: the check becomes pending
    (waived, if a waiver covers it), and ``checks.snapshots`` says whose evidence that moves."""
    if not counted or page.evaluation is None or item.result is None or page.running:
        return []
    result = item.result
    status = (
        ResultStatus.WAIVED
        if result.waiver is not None and result.severity != "critical"
        else ResultStatus.PENDING
    )
    return stale_if(counted, if_status(page.evaluation, item.check.code, status))


def checklists(
    page: ReleasePage, history: list[Approval] | None = None
) -> list[tuple[str, list[ChecklistItem]]]:
    """The deployment checklist items by phase, each with its latest tick and its result in the
    latest run."""
    checks = list(
        Check.objects.filter(project=page.access.project, is_active=True, in_checklist=True)
        .filter(Q(environments__isnull=True) | Q(environments=page.environment))
        .distinct()
        .order_by("position", "code")
    )
    ticks: dict[int, ManualTick] = {
        tick.check_item_id: tick
        for tick in ManualTick.objects.filter(release=page.release, environment=page.environment)
        .latest_per_check()
        .select_related("ticked_by")
        .prefetch_related(
            Prefetch(
                "attestations",
                queryset=Attestation.objects.filter(withdrawn_at__isnull=True).select_related(
                    "attested_by"
                ),
                to_attr="open_attestations",
            )
        )
    }
    results = {r.check.pk: r for r in page.evaluation.results} if page.evaluation else {}
    may_tick = page.access.can(Permission.TICK)
    may_attest = page.access.can(Permission.ATTEST)
    attester = may_attest and attestation_refusal(page.access.actor, page.release) is None
    counted = counted_snapshots(page, history if history is not None else approval_history(page))
    by_phase: dict[str, list[ChecklistItem]] = {phase: [] for phase in Phase.values}
    for check in checks:
        tick = ticks.get(check.pk)
        form = None
        if may_tick and check.kind == "manual":
            form = page.forms.get(f"tick-{check.pk}") or TickForm(
                auto_id=f"id_tick_{check.pk}_%s",
                initial={"ticked": "0" if _ticked(tick) else "1"},
            )
        item = ChecklistItem(check=check, tick=tick, result=results.get(check.pk), form=form)
        if check.kind == "manual" and tick is not None and tick.ticked:
            item.needs_attestation = needs_attestation(
                severity=check.severity,
                created_by_id=page.release.created_by_id,
                ticked_by_id=tick.ticked_by_id,
            )
        if item.needs_attestation:
            open_ones = getattr(tick, "open_attestations", [])
            item.attestation = open_ones[0] if open_ones else None
            item.may_withdraw = may_attest and item.attestation is not None
            if attester and item.attestation is None:
                item.attest_form = page.forms.get(f"attest-{check.pk}") or AttestForm(
                    auto_id=f"id_attest_{check.pk}_%s"
                )
        if form is not None and _ticked(tick):
            item.untick_makes_stale = _untick_makes_stale(page, item, counted)
        by_phase[check.phase].append(item)
    return [(Phase(phase).label, items) for phase, items in by_phase.items()]


def _ticked(tick: ManualTick | None) -> bool:
    return tick is not None and tick.ticked


def approval_panel(page: ReleasePage, history: list[Approval] | None = None) -> dict[str, Any]:
    """Who has decided, what counts, and why this user may or may not decide. Deciding is
    offered only where it matters: the release is not there yet and the environment asks for
    approvals."""
    user = page.access.actor.user
    username = user.get_username()
    counted = page.gate.approvals
    history = history if history is not None else approval_history(page)
    refusal = None
    needed = page.environment.required_approvals > 0
    if not page.state.gate_matters or not needed:
        refusal = ""  # nothing to decide: no refusal to explain either
    elif not page.access.can(Permission.APPROVE):
        refusal = f"Your role ({page.access.role}) does not approve releases in this project."
    else:
        refusal = four_eyes_refusal(page.access.actor, page.release)
    own_stale = next((why for who, why in counted.stale if who == username), None)
    own_latest = next((a for a in history if a.approver_id == user.pk), None)
    finished = page.run is not None and page.run.status == ReadinessRun.Status.FINISHED
    # The evidence on show, sent back with a decision: approving is refused if it changed since.
    shown_run = page.run if finished and page.evaluation is not None else None
    fingerprint = (
        Snapshot.of(page.evaluation).fingerprint(shown_run.pk)
        if shown_run is not None and page.evaluation is not None
        else ""
    )
    form = None
    if refusal is None:
        form = page.forms.get("approval") or ApprovalForm(auto_id="id_approval_%s")
    return {
        "needed": needed,
        "counted": counted,
        "history": history,
        "refusal": refusal,
        "own_stale": own_stale,
        "own_latest": own_latest,
        "form": form,
        "run_id": shown_run.pk if shown_run is not None else "",
        "fingerprint": fingerprint,
    }


def deploy_panel(page: ReleasePage) -> dict[str, Any]:
    may_deploy = page.access.can(Permission.DEPLOY)
    may_override = page.access.can(Permission.OVERRIDE)
    in_progress = any(h.code == "deployment_in_progress" for h in page.gate.holds)
    matters = page.state.gate_matters
    deploy_form = None
    if may_deploy and matters and page.gate.allowed:
        deploy_form = page.forms.get("deploy") or DeployForm(auto_id="id_deploy_%s")
    override_form = None
    if may_override and matters and not page.gate.allowed and not in_progress:
        override_form = page.forms.get("override") or BreakGlassForm(auto_id="id_override_%s")
    return {
        "may_deploy": may_deploy,
        "matters": matters,
        "deploy_form": deploy_form,
        "override_form": override_form,
    }


def rollback_panel(page: ReleasePage) -> dict[str, Any] | None:
    """Rolling back is offered on the release's deployment while it is the latest in the
    environment and an earlier release went well there: the form names that release, which
    is what the rollback service will deploy."""
    state = page.state
    deployment = state.deployment
    if (
        deployment is None
        or state.state == State.ROLLED_BACK
        or not page.access.can(Permission.ROLLBACK)
    ):
        return None
    if not is_latest(deployment):
        return None
    deployment.environment = page.environment
    deployment.release = page.release
    target = last_good_release(deployment)
    if target is None:
        return {"deployment": deployment, "target": None, "form": None}
    form = page.forms.get("rollback") or RollbackForm(auto_id="id_rollback_%s")
    return {"deployment": deployment, "target": target, "form": form}


def finishing(page: ReleasePage) -> Deployment | None:
    """The deployment in progress a deployer may mark as ended from this page: the release's
    own, or the rollback that is replacing it."""
    if not page.access.can(Permission.DEPLOY):
        return None
    state = page.state
    for candidate in (state.deployment, state.rollback):
        if candidate is not None and candidate.status == DeploymentStatus.IN_PROGRESS:
            return candidate
    return None


def lock_notice(page: ReleasePage) -> dict[str, Any] | None:
    """The lock holding the environment, who may lift it and how: only a project admin
    unlocks (``releases.access``), on the pipeline page or here."""
    lock = (
        Lock.objects.active()
        .filter(environment=page.environment)
        .select_related("deployment__rollback_of__release", "deployment__release")
        .first()
    )
    if lock is None:
        return None
    admins = list(
        Membership.objects.filter(project=page.access.project, role=Role.ADMIN)
        .select_related("user")
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )
    return {
        "lock": lock,
        "admins": admins,
        "may_unlock": page.access.can(Permission.MANAGE),
        "by_rollback": lock.deployment_id is not None,
    }


def deployments(page: ReleasePage) -> list[Deployment]:
    """The release's deployments, newest first, each with the rollbacks that replaced it."""
    return list(
        Deployment.objects.filter(release=page.release)
        .select_related("environment", "started_by", "rollback_of__release")
        .prefetch_related(
            Prefetch(
                "rollbacks",
                queryset=Deployment.objects.select_related("release").order_by("started_at"),
            )
        )
        .order_by("-started_at", "-id")
    )


def active_waivers(page: ReleasePage) -> list[Waiver]:
    return [
        w
        for w in Waiver.objects.filter(release=page.release, revoked_at__isnull=True)
        .select_related("check_item", "created_by")
        .order_by("expires_at")
        if w.is_active()
    ]


def blockers(page: ReleasePage) -> list[tuple[str, str]]:
    """The gate's reasons in plain words, most fundamental first."""
    reasons = sorted(page.gate.reasons, key=lambda r: _REASON_ORDER.get(r.code, len(_REASON_ORDER)))
    return [(REASON_KINDS.get(r.code, r.code.replace("_", " ")), r.message) for r in reasons]


def headline(page: ReleasePage) -> str:
    """The decision's question, or what is true when there is no question left."""
    release, env = page.release.version, page.environment.name
    state = page.state.state
    if state == State.VERIFIED:
        return f"{release} is deployed to {env} and verified"
    if state in (State.IN_PROGRESS, State.VERIFYING):
        return f"{release} is being deployed to {env}"
    if state == State.ROLLED_BACK:
        return f"{release} was rolled back in {env}"
    if state == State.FAILED:
        return f"{release} failed in {env}: can it go again?"
    return f"Can {release} go to {env}?"


def context(page: ReleasePage, **extra: Any) -> dict[str, Any]:
    """Everything the release template renders; partials use the parts they need."""
    evaluation = page.evaluation
    rows = breakdown(page)
    progress = evaluation.progress() if evaluation else (0, 0)
    history = approval_history(page)
    reasons = blockers(page)
    return {
        "project": page.access.project,
        "access": page.access,
        "page": page,
        "state": page.state,
        "state_sentence": page.state.sentence(page.release, page.environment),
        "states": [(env, page.states[env.pk]) for env in page.environments],
        "headline": headline(page),
        "blockers_first": reasons[:BLOCKERS_SHOWN],
        "blockers_more": reasons[BLOCKERS_SHOWN:],
        "rollback": rollback_panel(page),
        "finishing": finishing(page),
        "lock": lock_notice(page),
        "release": page.release,
        "environment": page.environment,
        "gate": page.gate,
        "run": page.run,
        "running": page.running,
        "evaluation": evaluation,
        "gauge": gauge(page),
        "blockers": reasons,
        "rows": rows,
        "shown_checks": sum(len(row.items) for row in rows),
        "filtered": page.filters.is_valid() and any(page.filters.cleaned_data.values()),
        "weight_total": evaluation.score.weight_total if evaluation else 0,
        "progress": {"done": progress[0], "total": progress[1]},
        "checklists": checklists(page, history),
        "objectives": objective_panels(
            page.release.pk,
            page.environment.pk,
            page.run,
            [r.result for r in evaluation.results] if evaluation else [],
        ),
        "approvals": approval_panel(page, history),
        "deploy": deploy_panel(page),
        "deployments": deployments(page),
        # Asked only if the part showing it renders (it reads the git mirror): not on polls.
        "changes": lambda: release_changes(release=page.release, environment=page.environment),
        "waivers": active_waivers(page),
        "waiver_forms": page.forms.get("waivers", {}),
        "severity_weights": scoring.SEVERITY_WEIGHT,
        "credits": scoring.CREDIT,
        "nav_section": "releases",
        **extra,
    }
