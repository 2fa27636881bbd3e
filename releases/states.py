"""What is true of a release in an environment: the one rule the release page, the pipeline and
the overview all show (PRODUCT.md, "Deployment").

A release's state in an environment comes from its latest deployment there and from whether a
later deployment rolled that one back:

- ``not_yet``: it was never deployed there;
- ``in_progress``: its latest deployment there is going on (``verifying``: it finished and the
  post-deploy checks are deciding);
- ``verified``: its latest deployment there succeeded and passed verification;
- ``failed``: its latest deployment there failed, or failed verification;
- ``rolled_back``: a rollback replaced its latest deployment there — whatever that deployment's
  own status says (a verified deployment stays verified in the history; the release is no
  longer what runs there).

Whether the gate matters is part of the answer: it asks "may this release go there now?", which
is a live question only for a release that is not there (never deployed, failed, rolled back).
For a release deployed and verified, or on its way, the gate's answer is beside the point.

``state_of`` is pure over the environment's deployments; ``states_for`` loads them for many
releases and environments in two queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import models

from .models import Deployment, DeploymentStatus, Environment, Release


class State(models.TextChoices):
    NOT_YET = "not_yet", "not yet"
    IN_PROGRESS = "in_progress", "in progress"
    VERIFYING = "verifying", "verifying"
    VERIFIED = "verified", "verified"
    FAILED = "failed", "failed"
    ROLLED_BACK = "rolled_back", "rolled back"


# The states in which "may it go there now?" is the question to answer.
GATE_MATTERS = frozenset({State.NOT_YET, State.FAILED, State.ROLLED_BACK})
_BY_STATUS = {
    DeploymentStatus.IN_PROGRESS: State.IN_PROGRESS,
    DeploymentStatus.SUCCEEDED: State.VERIFYING,
    DeploymentStatus.VERIFIED: State.VERIFIED,
    DeploymentStatus.FAILED: State.FAILED,
    DeploymentStatus.VERIFICATION_FAILED: State.FAILED,
}


@dataclass(frozen=True)
class EnvironmentState:
    """A release in one environment: its state, the deployment it rests on, and the rollback
    that replaced it (``rolled_back``) or the release now running there instead."""

    state: State
    deployment: Deployment | None = None  # the release's latest deployment there
    rollback: Deployment | None = None  # the deployment that rolled it back
    replaced_by: Deployment | None = None  # a later deployment of another release

    @property
    def gate_matters(self) -> bool:
        return self.state in GATE_MATTERS

    @property
    def label(self) -> str:
        return str(self.state.label)

    @property
    def css(self) -> str:
        """The badge class: the colour repeats the word."""
        return self.state.value

    def sentence(self, release: Release, environment: Environment) -> str:
        """The state in words, naming the deployment it rests on."""
        version, env = release.version, environment.name
        deployment = self.deployment
        if deployment is None:
            return f"{version} has not been deployed to {env}."
        number = f"#{deployment.pk}"
        if self.state == State.ROLLED_BACK and self.rollback is not None:
            back_to = self.rollback.release.version
            doing = (
                "is rolling it back"
                if self.rollback.status == DeploymentStatus.IN_PROGRESS
                else "rolled it back"
            )
            return f"{version} was deployed to {env} ({number}); rollback #{self.rollback.pk} {doing} to {back_to}."
        if self.state == State.IN_PROGRESS:
            return f"Deployment {number} of {version} to {env} is in progress."
        if self.state == State.VERIFYING:
            return f"{version} is deployed to {env} ({number}); the post-deploy checks are verifying it."
        if self.state == State.FAILED:
            how = (
                "failed verification"
                if deployment.status == DeploymentStatus.VERIFICATION_FAILED
                else "failed"
            )
            return f"Deployment {number} of {version} to {env} {how}."
        text = f"{version} is deployed to {env} and verified ({number})."
        if self.replaced_by is not None:
            text += f" {self.replaced_by.release.version} has been deployed there since."
        return text


def state_of(release_id: int, deployments: Sequence[Deployment]) -> EnvironmentState:
    """The release's state among one environment's deployments, newest first."""
    mine = next((d for d in deployments if d.release_id == release_id), None)
    if mine is None:
        return EnvironmentState(State.NOT_YET)
    later = [d for d in deployments if _after(d, mine)]
    rollback = next((d for d in reversed(later) if d.rollback_of_id == mine.pk), None)
    if rollback is not None:
        return EnvironmentState(State.ROLLED_BACK, deployment=mine, rollback=rollback)
    replaced = next((d for d in reversed(later) if d.release_id != release_id), None)
    return EnvironmentState(_BY_STATUS[DeploymentStatus(mine.status)], mine, replaced_by=replaced)


def _after(one: Deployment, other: Deployment) -> bool:
    return (one.started_at, one.pk) > (other.started_at, other.pk)


def states_for(
    releases: Iterable[Release], environments: Iterable[Environment]
) -> dict[tuple[int, int], EnvironmentState]:
    """(release id, environment id) → state, in two queries, for each release with its own
    project's environments (the releases may be of several projects): the deployments in those
    environments from the oldest of the project's releases' first deployments on (a later
    deployment of any release may have rolled one of them back or replaced it).

    The first query finds that moment per project (on the (release, environment) index), the
    second reads each environment's deployments since then (on the (environment, started_at)
    index). One query with the moment as a correlated subquery costs that subquery for every
    deployment the environments ever had: 30 ms for a year's 400 of one project."""
    releases = list(releases)
    release_ids = [r.pk for r in releases]
    environments = list(environments)
    if not release_ids or not environments:
        return {}
    since = dict(
        Deployment.objects.filter(release_id__in=release_ids, environment__in=environments)
        .values("environment__project_id")
        .annotate(first=models.Min("started_at"))
        .values_list("environment__project_id", "first")
    )
    by_environment: dict[int, list[Deployment]] = {e.pk: [] for e in environments}
    if since:
        wanted = models.Q()
        for project_id, first in since.items():
            wanted |= models.Q(
                environment__in=[e for e in environments if e.project_id == project_id],
                started_at__gte=first,
            )
        for row in (
            Deployment.objects.filter(wanted)
            .select_related("release")
            .order_by("-started_at", "-id")
        ):
            by_environment[row.environment_id].append(row)
    return {
        (release.pk, environment.pk): state_of(release.pk, by_environment[environment.pk])
        for release in releases
        for environment in environments
        if release.project_id == environment.project_id
    }
