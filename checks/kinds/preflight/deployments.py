"""Probes of the deployment history of an environment over a window: did every deployment go
through Preflight's gate and lock, were releases promoted in order, has a rollback been
rehearsed, and is there enough history for the delivery metrics."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Exists, F, Max, OuterRef, Subquery
from django.utils.timesince import timesince

from checks.models import ReadinessRun
from releases.metrics import Window, compute, load_facts
from releases.models import Deployment, DeploymentStatus, Environment
from releases.models.deployments import BYPASSED_THE_GATE, GOOD_STATUSES

from ..base import Outcome, sentence
from .registry import ENVIRONMENT, LISTED, Subject, count, listed, probe, whole_number


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bypass(deployment: Deployment) -> str:
    how = (
        "recorded after the fact"
        if deployment.recorded_after_the_fact
        else f"break glass: “{_short(deployment.override_reason)}”"
    )
    return f"#{deployment.pk} ({deployment.release.version}, {how})"


@probe("deployments_gated", scope=ENVIRONMENT, window=True)
def deployments_gated(subject: Subject) -> Outcome:
    """Every deployment to E in the window went through Preflight's gate and lock: no
    break-glass override, none recorded after the fact."""
    env = subject.env
    recent = Deployment.objects.filter(
        environment=env, started_at__gte=subject.since, started_at__lte=subject.now
    )
    totals = recent.aggregate(
        total=Count("id"), bypassed=Count("id", filter=BYPASSED_THE_GATE), latest=Max("id")
    )
    total, bypassed = totals["total"], totals["bypassed"]
    if not total:
        return Outcome(
            "pending",
            f"No deployment to {env.name} {subject.in_window}: nothing shows yet whether "
            "deployments go through Preflight's gate and lock.",
            data={"environment": env.slug, "deployments": 0},
        )
    offenders = list(
        recent.filter(BYPASSED_THE_GATE)
        .select_related("release")
        .order_by("-started_at", "-id")[:LISTED]
    )
    data = {
        "environment": env.slug,
        "deployments": total,
        "bypassed": [d.pk for d in offenders],
        "latest": totals["latest"],
    }
    if bypassed:
        if total == 1:
            which = f"The only deployment to {env.name} {subject.in_window} did not go"
        elif bypassed == total:
            which = f"None of the {total} deployments to {env.name} {subject.in_window} went"
        else:
            which = (
                f"{bypassed} of {total} deployments to {env.name} {subject.in_window} did not go"
            )
        return Outcome(
            "fail",
            f"{which} through Preflight's gate and lock: "
            f"{listed([_bypass(d) for d in offenders], bypassed)}. Deploy through Preflight "
            f"(the deploy button, `preflight deploy` or POST deployments/), which holds "
            f"{env.name}'s lock and asks the gate; keep break glass for emergencies.",
            data=data,
        )
    every = "The only deployment" if total == 1 else f"All {total} deployments"
    return Outcome(
        "pass",
        f"{every} to {env.name} {subject.in_window} went through Preflight's gate and lock "
        f"(the latest: #{totals['latest']}).",
        data=data,
    )


@probe("promotion_order", scope=ENVIRONMENT, window=True)
def promotion_order(subject: Subject) -> Outcome:
    """E comes after another environment and requires success there first, and every
    deployment to E in the window (rollbacks aside) had succeeded there before it started."""
    env = subject.env
    previous = env.previous()
    if previous is None:
        return Outcome(
            "fail",
            f"{env.name} is the first environment of {subject.project_slug}: releases reach it "
            "without passing through another one. Add an environment before it (e.g. staging) "
            f"and require success there (requires previous) for {env.name}.",
            data={"environment": env.slug, "previous": None},
        )
    went_well_before = Deployment.objects.filter(
        environment=previous,
        release_id=OuterRef("release_id"),
        status__in=GOOD_STATUSES,
        started_at__lt=OuterRef("started_at"),
    )
    recent = Deployment.objects.filter(
        environment=env,
        started_at__gte=subject.since,
        started_at__lte=subject.now,
        rollback_of__isnull=True,
    )
    skipped_first = ~Exists(went_well_before)
    totals = recent.aggregate(total=Count("id"), skipped=Count("id", filter=skipped_first))
    total, skipped = totals["total"], totals["skipped"]
    jumped = list(
        recent.filter(skipped_first)
        .select_related("release")
        .order_by("-started_at", "-id")[:LISTED]
    )
    data = {
        "environment": env.slug,
        "previous": previous.slug,
        "requires_previous": env.requires_previous,
        "deployments": total,
        "skipped_previous": [d.pk for d in jumped],
    }
    problems = []
    if not env.requires_previous:
        problems.append(
            f"{env.name} does not require a release to succeed in {previous.name} first"
        )
    if skipped:
        problems.append(
            f"{skipped} of {count(total, 'deployment')} to {env.name} {subject.in_window} had "
            f"not succeeded in {previous.name} before: "
            f"{listed([f'#{d.pk} ({d.release.version})' for d in jumped], skipped)}"
        )
    if problems:
        advice = (
            f"Turn on requires previous for {env.name} (Django admin → Environments)"
            if not env.requires_previous
            else f"Promote every release through {previous.name} first (break glass skips "
            "the rule: keep it for emergencies)"
        )
        return Outcome("fail", f"{sentence('; '.join(problems))}. {advice}.", data=data)
    if not total:
        history = f"no release reached it {subject.in_window}"
    else:
        every = "the deployment" if total == 1 else f"all {total} deployments"
        history = f"{every} to it {subject.in_window} had succeeded there before"
    return Outcome(
        "pass",
        f"{env.name} requires a release to succeed in {previous.name} first, and {history}.",
        data=data,
    )


@probe("rollback_rehearsed", scope=ENVIRONMENT, window=True)
def rollback_rehearsed(subject: Subject) -> Outcome:
    """A rollback in the environment before E, recorded by Preflight, succeeded and was verified
    by post-deploy checks in the window."""
    env = subject.env
    previous = env.previous()
    if previous is None:
        return Outcome(
            "fail",
            f"{env.name} is the first environment of {subject.project_slug}: there is nowhere to "
            "rehearse a rollback before it. Add an environment before it (e.g. staging).",
            data={"environment": env.slug, "previous": None},
        )
    verification = ReadinessRun.objects.filter(
        deployment=OuterRef("pk"),
        kind=ReadinessRun.Kind.VERIFICATION,
        status=ReadinessRun.Status.FINISHED,
    ).order_by("-created_at", "-id")
    rollbacks = Deployment.objects.filter(
        environment=previous, rollback_of__isnull=False, started_at__lte=subject.now
    ).select_related("release", "rollback_of__release")
    rehearsal = (
        rollbacks.filter(
            status=DeploymentStatus.VERIFIED,
            verified_at__gte=subject.since,
            verified_at__lte=subject.now,
            recorded_after_the_fact=False,
        )
        .annotate(verified_by=Subquery(verification.values("id")[:1]))
        .order_by(F("verified_by").desc(nulls_last=True), "-verified_at", "-id")
        .first()
    )
    data: dict[str, object] = {"environment": env.slug, "previous": previous.slug}
    if rehearsal is not None and rehearsal.verified_at is not None:
        assert rehearsal.rollback_of is not None
        data.update(rollback=rehearsal.pk, verification_run=rehearsal.verified_by)
        what = (
            f"Rollback #{rehearsal.pk} in {previous.name} (from "
            f"{rehearsal.rollback_of.release.version}, #{rehearsal.rollback_of.pk}, back to "
            f"{rehearsal.release.version})"
        )
        if rehearsal.verified_by is None:
            return Outcome(
                "warn",
                f"{what} was verified {subject.ago(rehearsal.verified_at)}, but no post-deploy "
                f"check applied to {previous.name}: nothing tested the release it went back to. "
                f"Add post-deploy checks for {previous.name} and rehearse again.",
                data=data,
            )
        return Outcome(
            "pass",
            f"{what} succeeded and was verified by verification run #{rehearsal.verified_by} "
            f"{subject.ago(rehearsal.verified_at)}.",
            data=data,
        )
    latest = rollbacks.order_by("-started_at", "-id").first()
    if latest is None:
        seen = f"no rollback was ever recorded in {previous.name}"
    else:
        data["latest_rollback"] = latest.pk
        if latest.recorded_after_the_fact:
            state = "was recorded after the fact, not by Preflight"
        elif latest.status == DeploymentStatus.VERIFIED and latest.verified_at is not None:
            state = f"was verified {subject.ago(latest.verified_at)}"
        else:
            state = f"started {subject.ago(latest.started_at)} and is {latest.get_status_display()}"
        seen = f"the latest, #{latest.pk} (back to {latest.release.version}), {state}"
    return Outcome(
        "fail",
        f"No rollback in {previous.name} succeeded and was verified {subject.in_window}: {seen}. "
        f"Rehearse one before {env.name}: roll back a deployment in {previous.name} (the "
        "rollback button, `preflight rollback` or POST deployments/{id}/rollback/) and let its "
        "post-deploy checks verify it.",
        data=data,
    )


@probe(
    "delivery_metrics",
    scope=ENVIRONMENT,
    window=True,
    settings={"min_deployments": whole_number(default=5, minimum=1, maximum=1000)},
)
def delivery_metrics(subject: Subject) -> Outcome:
    """At least ``min_deployments`` deployments to E finished in the window: enough for the
    delivery metrics (frequency, lead time, change failure rate, time to restore)."""
    env, wanted = subject.env, subject.config["min_deployments"]
    # Lead time is measured in production: the last environment in promotion order.
    last = (
        Environment.objects.filter(project_id=subject.project_id)
        .order_by("-position")
        .values_list("pk", flat=True)
        .first()
    )
    window = Window(start=subject.since, end=subject.now + timedelta(microseconds=1))
    metrics = compute(
        load_facts([env], window), window=window, environment_ids=[env.pk], production_id=last
    )
    measured = metrics.environments[env.pk]
    data = {
        "environment": env.slug,
        "finished": measured.finished,
        "verified": measured.verified,
        "failures": measured.failures,
    }
    if measured.finished < wanted:
        only = (
            "No deployment"
            if not measured.finished
            else f"Only {count(measured.finished, 'deployment')}"
        )
        return Outcome(
            "fail",
            f"{only} to {env.name} finished {subject.in_window} (at least {wanted} expected): "
            "too few for the delivery metrics to mean anything. Record every deployment "
            "through Preflight (start and finish, `preflight deploy` and `preflight finish`) "
            "so frequency, lead time, failure rate and time to restore are measured.",
            data=data,
        )
    parts = [f"{measured.per_week:.1f} verified a week"]
    rate = measured.change_failure_rate
    if rate is not None:
        parts.append(f"change failure rate {rate:.0%}")
    restore = measured.time_to_restore
    if restore is not None:
        parts.append(f"median time to restore {_duration(restore, subject)}")
    if env.pk == last and metrics.lead_time is not None:
        parts.append(f"median lead time {_duration(metrics.lead_time, subject)}")
    return Outcome(
        "pass",
        f"{count(measured.finished, 'deployment')} to {env.name} finished {subject.in_window} "
        f"(at least {wanted} expected): {', '.join(parts)}.",
        data=data,
    )


def _duration(span: timedelta, subject: Subject) -> str:
    if span < timedelta(minutes=1):
        return f"{span.total_seconds():.0f} s"
    return timesince(subject.now - span, subject.now)
