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

from preflight.web.access import ProjectAccess
from releases.access import Permission
from releases.forms import ApprovalForm, BreakGlassForm, DeployForm
from releases.models import Approval, Deployment, Environment, Release
from releases.services.approvals import four_eyes_refusal

from .. import scoring
from ..evaluation import EffectiveResult, RunEvaluation, evaluate
from ..evidence import attestation_refusal, needs_attestation
from ..forms import AttestForm, CheckFilterForm, TickForm
from ..gate import GateDecision, evaluate_gate
from ..models import Attestation, Check, ManualTick, Phase, ReadinessRun, Waiver
from ..services.sources import release_changes
from ..snapshots import Snapshot

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
    forms: dict[str, Any] = field(default_factory=dict)


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
    return ReleasePage(
        access=access,
        release=release,
        environment=environment,
        environments=list(Environment.objects.filter(project=access.project).order_by("position")),
        gate=gate,
        run=run,
        evaluation=evaluation,
        filters=filters,
        forms=dict(forms or {}),
    )


def gauge(page: ReleasePage) -> dict[str, Any]:
    """The score gauge's geometry, drawn as SVG on the server."""
    score = page.evaluation.overall if page.evaluation else None
    minimum = page.environment.min_score
    filled = (score or Decimal(0)) / 100 * GAUGE_CIRCUMFERENCE
    threshold_angle = float(minimum) / 100 * 360 - 90
    if score is None:
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
        "provisional": page.run is not None and not page.run.is_done,
    }


def breakdown(page: ReleasePage) -> list[CategoryRow]:
    if page.evaluation is None:
        return []
    score = page.evaluation.score
    items = {category.key: results for category, results in page.evaluation.by_category()}
    return [
        CategoryRow(
            name=category.name,
            weight=category.weight,
            score=category.score,
            checks=category.checks,
            contribution=_rounded(score.contribution(category)),
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


def checklists(page: ReleasePage) -> list[tuple[str, list[ChecklistItem]]]:
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
        by_phase[check.phase].append(item)
    return [(Phase(phase).label, items) for phase, items in by_phase.items()]


def _ticked(tick: ManualTick | None) -> bool:
    return tick is not None and tick.ticked


def approval_panel(page: ReleasePage) -> dict[str, Any]:
    """Who has decided, what counts, and why this user may or may not decide."""
    user = page.access.actor.user
    username = user.get_username()
    counted = page.gate.approvals
    history = list(
        Approval.objects.filter(release=page.release, environment=page.environment)
        .select_related("approver")
        .order_by("-created_at", "-id")
    )
    refusal = None
    if not page.access.can(Permission.APPROVE):
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
    deploy_form = None
    if may_deploy and page.gate.allowed:
        deploy_form = page.forms.get("deploy") or DeployForm(auto_id="id_deploy_%s")
    override_form = None
    if may_override and not page.gate.allowed and not in_progress:
        override_form = page.forms.get("override") or BreakGlassForm(auto_id="id_override_%s")
    return {
        "may_deploy": may_deploy,
        "deploy_form": deploy_form,
        "override_form": override_form,
    }


def deployments(page: ReleasePage) -> list[Deployment]:
    return list(
        Deployment.objects.filter(release=page.release)
        .select_related("environment", "started_by", "rollback_of__release")
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


def context(page: ReleasePage, **extra: Any) -> dict[str, Any]:
    """Everything the release template renders; partials use the parts they need."""
    evaluation = page.evaluation
    rows = breakdown(page)
    progress = evaluation.progress() if evaluation else (0, 0)
    return {
        "project": page.access.project,
        "access": page.access,
        "page": page,
        "release": page.release,
        "environment": page.environment,
        "gate": page.gate,
        "run": page.run,
        "running": page.run is not None and not page.run.is_done,
        "evaluation": evaluation,
        "gauge": gauge(page),
        "blockers": blockers(page),
        "rows": rows,
        "shown_checks": sum(len(row.items) for row in rows),
        "filtered": page.filters.is_valid() and any(page.filters.cleaned_data.values()),
        "weight_total": evaluation.score.weight_total if evaluation else 0,
        "progress": {
            "done": progress[0],
            "total": progress[1],
            "percent": round(100 * progress[0] / progress[1]) if progress[1] else 0,
        },
        "checklists": checklists(page),
        "approvals": approval_panel(page),
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
