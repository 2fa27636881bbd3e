"""Probes of how an environment and the project are set up: approvals, automatic rollback,
post-deploy verification, and who hears of what happens."""

from __future__ import annotations

from urllib.parse import urlparse

from django.db.models import Count, Q

from checks.models import Check, ReadinessRun
from releases.access import ROLE_PERMISSIONS, Permission
from releases.models import Membership, Release, Role, Webhook, WebhookDelivery

from ..base import Outcome, sentence
from .registry import (
    ENVIRONMENT,
    LISTED,
    PROJECT,
    Subject,
    count,
    event_names,
    listed,
    probe,
    whole_number,
)

# The roles whose members may approve: the access rules decide, not a list kept here.
APPROVER_ROLES = [r for r in Role.values if Permission.APPROVE in ROLE_PERMISSIONS[r]]

# What a team must hear of: deployments that failed or failed verification, rollbacks and
# break-glass overrides (DS-009). Backup monitoring (BK-002) names the backup events instead.
DEPLOYMENT_EVENTS = (
    "deployment.finished",
    "deployment.verification_failed",
    "rollback.started",
    "override.used",
)
BACKUP_EVENTS = ("backup.failed", "backup.stale", "drill.failed", "wal.failing")


@probe(
    "approvals_required",
    scope=ENVIRONMENT,
    settings={"min_approvals": whole_number(default=1, minimum=1, maximum=20)},
)
def approvals_required(subject: Subject) -> Outcome:
    """E requires at least ``min_approvals`` approvals, and enough people may give them."""
    env, wanted = subject.env, subject.config["min_approvals"]
    required = env.required_approvals
    creator = Release.objects.filter(pk=subject.release_id, created_by__isnull=False).values_list(
        "created_by_id", flat=True
    )  # a NULL in NOT IN would exclude everyone: a release a pipeline registered has no creator
    approvers = list(
        Membership.objects.filter(
            project_id=subject.project_id, role__in=APPROVER_ROLES, user__is_active=True
        )
        .exclude(user_id__in=creator)  # four eyes: the release's creator never counts
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )
    data = {"environment": env.slug, "required_approvals": required, "approvers": approvers}
    if required < wanted:
        consequence = (
            "anyone who may deploy can deploy without a review"
            if required == 0
            else "fewer people review a release than expected"
        )
        return Outcome(
            "fail",
            f"{env.name} requires {count(required, 'approval')} (at least {wanted} expected): "
            f"{consequence}. Set required approvals of {env.name} to {wanted} or more "
            "(Django admin → Environments).",
            data=data,
        )
    who = listed(approvers[:LISTED], len(approvers)) or "nobody"
    if len(approvers) < required:
        return Outcome(
            "warn",
            f"{env.name} requires {count(required, 'approval')}, but only "
            f"{count(len(approvers), 'person', 'people')} besides the release's creator may "
            f"approve ({who}): the gate cannot open. Give another member the approver role.",
            data=data,
        )
    return Outcome(
        "pass",
        f"{env.name} requires {count(required, 'approval')} (at least {wanted} expected), "
        f"from {count(len(approvers), 'person', 'people')} who may approve besides the "
        f"release's creator: {who}.",
        data=data,
    )


def _post_deploy_checks(subject: Subject) -> list[str]:
    """The codes of the checks a verification run of E evaluates (the run's own selection)."""
    return list(
        Check.objects.applicable(subject.project_id, subject.env, ReadinessRun.Kind.VERIFICATION)
        .order_by("position", "code")
        .values_list("code", flat=True)
    )


@probe("auto_rollback_enabled", scope=ENVIRONMENT)
def auto_rollback_enabled(subject: Subject) -> Outcome:
    """E rolls back by itself when verification fails, and some check can fail verification."""
    env = subject.env
    checks = _post_deploy_checks(subject)
    data = {"environment": env.slug, "auto_rollback": env.auto_rollback, "post_checks": checks}
    if not env.auto_rollback:
        return Outcome(
            "fail",
            f"{env.name} does not roll back by itself: when post-deploy verification fails, the "
            f"faulty release stays until someone acts. Turn on auto-rollback for {env.name} "
            "(Django admin → Environments).",
            data=data,
        )
    if not checks:
        return Outcome(
            "warn",
            f"{env.name} rolls back automatically when verification fails, but no automated "
            "post-deploy check applies to it: verification cannot fail, so nothing triggers a "
            "rollback. Add checks with phase post to the catalog.",
            data=data,
        )
    return Outcome(
        "pass",
        f"{env.name} rolls back automatically when post-deploy verification fails; "
        f"{count(len(checks), 'post-deploy check')} can fail it: "
        f"{listed(checks[:LISTED], len(checks))}.",
        data=data,
    )


@probe(
    "verification_configured",
    scope=ENVIRONMENT,
    settings={"min_checks": whole_number(default=1, minimum=1, maximum=100)},
)
def verification_configured(subject: Subject) -> Outcome:
    """At least ``min_checks`` automated post-deploy checks verify each deployment to E."""
    env, wanted = subject.env, subject.config["min_checks"]
    checks = _post_deploy_checks(subject)
    data = {"environment": env.slug, "post_checks": checks}
    if len(checks) < wanted:
        found = (
            "No automated post-deploy check applies"
            if not checks
            else f"Only {count(len(checks), 'automated post-deploy check')} "
            f"({listed(checks)}) {'applies' if len(checks) == 1 else 'apply'}"
        )
        return Outcome(
            "fail",
            f"{found} to {env.name} (at least {wanted} expected): a deployment there is marked "
            "verified without being tested. Add smoke tests to the catalog: http (or other "
            "automated) checks with phase post.",
            data=data,
        )
    return Outcome(
        "pass",
        f"{count(len(checks), 'post-deploy check')} {'verifies' if len(checks) == 1 else 'verify'} "
        f"every deployment to {env.name}: "
        f"{listed(checks[:LISTED], len(checks))}.",
        data=data,
    )


def _subscribed(webhook: Webhook, event: str) -> bool:
    """``wants``, whether the webhook is switched on or off: the rule stays the model's."""
    return Webhook(events=webhook.events, is_active=True).wants(event)


def _describe(webhook: Webhook) -> str:
    # The host only: a webhook's path often carries its secret (Slack, Teams, Discord).
    return f"webhook #{webhook.pk} “{webhook.name}” ({urlparse(webhook.url).hostname or '?'})"


@probe(
    "webhook_subscribed",
    scope=PROJECT,
    window=True,
    settings={"events": event_names(DEPLOYMENT_EVENTS)},
)
def webhook_subscribed(subject: Subject) -> Outcome:
    """Every one of ``events`` goes to an active webhook, and deliveries to it do not all fail."""
    events: list[str] = subject.config["events"]
    webhooks = list(Webhook.objects.filter(project_id=subject.project_id).order_by("pk"))
    receivers = {e: [w for w in webhooks if w.wants(e)] for e in events}
    data: dict[str, object] = {
        "events": events,
        "webhooks": {e: [w.pk for w in ws] for e, ws in receivers.items()},
    }
    unheard = [e for e in events if not receivers[e]]
    if unheard:
        # Switched off, but subscribed: turning it back on would be the fix.
        idle = [w for w in webhooks if not w.is_active and any(_subscribed(w, e) for e in unheard)]
        partial = [w for w in webhooks if w.is_active and any(w.wants(e) for e in events)]
        hint = "".join(
            f" {sentence(_describe(w))} receives only {listed([e for e in events if w.wants(e)])}."
            for w in partial[:LISTED]
        )
        if idle:
            hint += (
                f" {sentence(listed([_describe(w) for w in idle[:LISTED]], len(idle)))} would "
                f"receive them but {'is' if len(idle) == 1 else 'are'} switched off."
            )
        return Outcome(
            "fail",
            f"No active webhook receives {listed(unheard)}: nobody is told when they happen."
            f"{hint} Subscribe a webhook to them (Django admin → Webhooks).",
            data=data,
        )
    used = {w.pk: w for ws in receivers.values() for w in ws}
    stats = {
        row["webhook_id"]: row
        for row in WebhookDelivery.objects.filter(
            webhook_id__in=list(used),
            event__in=events,
            created_at__gte=subject.since,
            created_at__lte=subject.now,
        )
        .values("webhook_id")
        .annotate(
            delivered=Count("id", filter=Q(status=WebhookDelivery.Status.DELIVERED)),
            failed=Count("id", filter=Q(status=WebhookDelivery.Status.FAILED)),
        )
        .order_by()
    }

    def failing(webhook: Webhook) -> bool:
        row = stats.get(webhook.pk)
        return row is not None and row["failed"] > 0 and row["delivered"] == 0

    delivered = sum(row["delivered"] for row in stats.values())
    failed = sum(row["failed"] for row in stats.values())
    data["delivered"], data["failed"] = delivered, failed
    names = listed([_describe(w) for w in list(used.values())[:LISTED]], len(used))
    silent = [e for e in events if all(failing(w) for w in receivers[e])]
    if silent:
        broken = [w for w in used.values() if failing(w)]
        return Outcome(
            "warn",
            f"{listed(events)} go to {names}, but every delivery {subject.in_window} to "
            f"{listed([_describe(w) for w in broken])} failed ({count(failed, 'failure')}): "
            f"nobody heard of {listed(silent)}. Check the URL and the receiver "
            "(Django admin → Webhook deliveries).",
            data=data,
        )
    history = ""
    if delivered or failed:
        history = f"; {subject.in_window} {count(delivered, 'delivery', 'deliveries')} arrived"
        history += f" and {failed} failed" if failed else ""
    return Outcome("pass", f"{listed(events)} go to {names}{history}.", data=data)
