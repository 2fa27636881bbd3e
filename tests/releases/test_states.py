"""A release's state in an environment: one rule (releases.states) for every page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from releases.models import Release
from releases.states import State, states_for
from tests.factories import (
    DeploymentFactory,
    EnvironmentFactory,
    ProjectFactory,
    ReleaseFactory,
)

pytestmark = pytest.mark.django_db


def at(hours: int):  # type: ignore[no-untyped-def]
    return timezone.now() - timedelta(hours=100 - hours)


@pytest.fixture
def older(project) -> Release:  # type: ignore[no-untyped-def]
    return Release.objects.create(project=project, version="0.9.0", git_sha="abcdef1")


def state(release, environment):  # type: ignore[no-untyped-def]
    return states_for([release], [environment])[release.pk, environment.pk]


def test_never_deployed_is_not_yet_and_the_gate_matters(release, environments):
    found = state(release, environments["staging"])
    assert found.state == State.NOT_YET
    assert found.gate_matters
    assert found.sentence(release, environments["staging"]) == (
        "1.0.0 has not been deployed to Staging."
    )


@pytest.mark.parametrize(
    ("status", "expected", "matters"),
    [
        ("in_progress", State.IN_PROGRESS, False),
        ("succeeded", State.VERIFYING, False),
        ("verified", State.VERIFIED, False),
        ("failed", State.FAILED, True),
        ("verification_failed", State.FAILED, True),
    ],
)
def test_the_latest_deployment_decides(release, environments, status, expected, matters):
    staging = environments["staging"]
    DeploymentFactory(release=release, environment=staging, status="failed", started_at=at(1))
    DeploymentFactory(release=release, environment=staging, status=status, started_at=at(2))
    found = state(release, staging)
    assert found.state == expected
    assert found.gate_matters is matters


def test_a_verified_deployment_that_was_rolled_back_is_rolled_back(release, older, environments):
    staging = environments["staging"]
    DeploymentFactory(release=older, environment=staging, status="verified", started_at=at(1))
    faulty = DeploymentFactory(
        release=release, environment=staging, status="verified", started_at=at(2)
    )
    rollback = DeploymentFactory(
        release=older,
        environment=staging,
        status="in_progress",
        rollback_of=faulty,
        started_at=at(3),
    )
    found = state(release, staging)
    assert found.state == State.ROLLED_BACK
    assert found.rollback == rollback
    assert found.gate_matters
    assert found.sentence(release, staging) == (
        f"1.0.0 was deployed to Staging (#{faulty.pk}); rollback #{rollback.pk} is rolling it back to 0.9.0."
    )
    # The release rolled back to is on its way there again.
    assert state(older, staging).state == State.IN_PROGRESS


def test_deployed_again_after_a_rollback_is_what_the_new_deployment_says(
    release, older, environments
):
    staging = environments["staging"]
    faulty = DeploymentFactory(
        release=release, environment=staging, status="verified", started_at=at(1)
    )
    DeploymentFactory(
        release=older, environment=staging, status="verified", rollback_of=faulty, started_at=at(2)
    )
    DeploymentFactory(release=release, environment=staging, status="verified", started_at=at(3))
    assert state(release, staging).state == State.VERIFIED


def test_a_verified_release_replaced_since_says_so(release, older, environments):
    staging = environments["staging"]
    DeploymentFactory(release=older, environment=staging, status="verified", started_at=at(1))
    DeploymentFactory(release=release, environment=staging, status="verified", started_at=at(2))
    found = state(older, staging)
    assert found.state == State.VERIFIED
    assert found.sentence(older, staging).endswith("1.0.0 has been deployed there since.")


def test_states_of_many_releases_take_two_queries(
    release, older, environments, django_assert_num_queries
):
    for env in environments.values():
        DeploymentFactory(release=older, environment=env, status="verified", started_at=at(1))
    with django_assert_num_queries(2):
        found = states_for([release, older], list(environments.values()))
    assert len(found) == 6
    assert {s.state for (r, _), s in found.items() if r == older.pk} == {State.VERIFIED}


def test_states_of_several_projects_at_once_are_each_projects_own(
    release, older, environments, deployer, django_assert_num_queries
):
    """Each project's deployments are read from its own releases' first deployment on, however
    much later another project's history starts."""
    staging = environments["staging"]
    good = DeploymentFactory(release=older, environment=staging, started_at=at(1))
    rollback = DeploymentFactory(
        release=release, environment=staging, started_at=at(3), rollback_of=good
    )
    other = ProjectFactory(slug="other")
    theirs = EnvironmentFactory(project=other, slug="staging", position=0)
    late = ReleaseFactory(project=other, version="2.0", created_by=deployer)
    DeploymentFactory(release=late, environment=theirs, started_at=at(50))
    envs = [*environments.values(), theirs]
    with django_assert_num_queries(2):
        together = states_for([older, late], envs)
    assert together == {
        **states_for([older], list(environments.values())),
        **states_for([late], [theirs]),
    }
    assert together[older.pk, staging.pk].state == State.ROLLED_BACK
    assert together[older.pk, staging.pk].rollback == rollback
    assert together[late.pk, theirs.pk].state == State.VERIFIED
