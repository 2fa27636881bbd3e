"""The release page of a project with a git repository lists the files changed since the
release last verified in the page's environment, read from the mirror a run left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.kinds.repository.source import checkout
from checks.kinds.repository.source.config import validate_repository
from tests.checks.git_repos import Origin
from tests.factories import DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def origin(tmp_path, settings):  # type: ignore[no-untyped-def]
    root = tmp_path / "repos"
    root.mkdir()
    settings.PREFLIGHT_REPOSITORY_ROOT = root
    settings.PREFLIGHT_GIT_CACHE_DIR = tmp_path / "git-cache"
    return Origin(root)


def fetched(project, *shas: str) -> None:  # type: ignore[no-untyped-def]
    """What the runs of those releases did: their commits are in the project's mirror."""
    for sha in shas:
        checkout(project=project.slug, repository=project.repository, sha=sha)


def page(client, version: str = "1.0.1"):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/projects/shop/releases/{version}/staging/")
    assert response.status_code == 200
    return response.content.decode(), len(captured.captured_queries)


def test_the_page_lists_the_files_changed_since_the_verified_release(
    client_of, viewer, project, environments, deployer, origin
):
    project.repository = validate_repository({"url": "pos.git"})
    project.save()
    deployed_sha = origin.commit({"deploy.sh": "echo 1\n", "old.sql": "select 1;"})
    origin.commit({"deploy.sh": "echo 2\n", "db/002.sql": "select 2;", "old.sql": None})
    released_sha = origin.commit({"README.md": "notes"})
    deployed = ReleaseFactory(
        project=project, version="1.0.0", git_sha=deployed_sha, created_by=deployer
    )
    ReleaseFactory(project=project, version="1.0.1", git_sha=released_sha, created_by=deployer)
    fetched(project, deployed_sha, released_sha)
    client = client_of(viewer)

    html, _ = page(client)
    assert "No release has been verified in Staging yet" in html

    DeploymentFactory(
        release=deployed, environment=environments["staging"], verified_at=timezone.now()
    )
    html, one = page(client)
    assert 'Changed since 1.0.0 <span class="muted small">(verified in Staging)</span>' in html
    for line in (
        'README.md</span> <span class="muted">added',
        'db/002.sql</span> <span class="muted">added',
        'deploy.sh</span> <span class="muted">modified',
        'old.sql</span> <span class="muted">deleted',
    ):
        assert line in html

    # More verified deployments cost no more queries: the latest one is asked for.
    for days in range(1, 30):
        DeploymentFactory(
            release=deployed,
            environment=environments["staging"],
            started_at=timezone.now() - timedelta(days=days),
            verified_at=timezone.now() - timedelta(days=days),
        )
    _, many = page(client)
    assert many == one


def test_a_commit_not_fetched_yet_is_said_so(
    client_of, viewer, project, environments, deployer, origin
):
    project.repository = validate_repository({"url": "pos.git"})
    project.save()
    deployed_sha = origin.commit({"deploy.sh": "echo 1\n"})
    released_sha = origin.commit({"deploy.sh": "echo 2\n"})
    deployed = ReleaseFactory(
        project=project, version="1.0.0", git_sha=deployed_sha, created_by=deployer
    )
    ReleaseFactory(project=project, version="1.0.1", git_sha=released_sha, created_by=deployer)
    DeploymentFactory(
        release=deployed, environment=environments["staging"], verified_at=timezone.now()
    )
    html, _ = page(client_of(viewer))
    assert "Changed since 1.0.0" in html
    assert f"Not known yet: Commit {released_sha[:12]} has not been fetched yet." in html


def test_a_project_without_a_repository_shows_no_changes(
    client_of, viewer, project, environments, deployer
):
    ReleaseFactory(project=project, version="1.0.1", created_by=deployer)
    html, _ = page(client_of(viewer))
    assert 'id="changes"' not in html
