"""A project that names its git repository: the catalog carries the block, a release needs its
full commit, and a readiness run judges that commit's tree (end to end, through the API and the
run path), with every error a single line that holds no secret."""

from __future__ import annotations

import logging
import textwrap

import pytest
import yaml
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from checks.catalog import CatalogInvalid, export_catalog, import_catalog
from checks.models import CheckResult
from checks.services.runs import run_execute

from ..api.conftest import bearer, service_token, user_token
from ..factories import DeploymentFactory
from .git_repos import GitHTTPServer, Origin

pytestmark = pytest.mark.django_db

OPERATOR = Actor.of_system("test")
TOKEN = "s3cr3t-t0ken-4f9a2c"
P = "/api/v1/projects/shop"

DEPLOY_SLEEPING = (
    "#!/bin/sh\nset -e\ndocker compose up -d\nsleep 30\ncurl -f http://localhost/health\n"
)
DEPLOY_POLLING = (
    "#!/bin/sh\nset -e\ndocker compose up -d\n"
    "until curl -fs http://localhost/health; do sleep 2; done\n"
)
COMPOSE_SECRET = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: hunter2-prod-pw\n"
COMPOSE_CLEAN = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n"


def catalog(url: str, credentials_env: str = "") -> str:
    repository = {"url": url, **({"credentials_env": credentials_env} if credentials_env else {})}
    return yaml.safe_dump(
        {
            "version": 1,
            "project": "shop",
            "repository": repository,
            "categories": [{"key": "deploy", "name": "Deployment", "weight": 100}],
            "checks": [
                {
                    "code": "DS-001",
                    "title": "No fixed sleeps in deploy scripts",
                    "category": "deploy",
                    "severity": "high",
                    "kind": "repository",
                    "config": {"rule": "no_fixed_sleeps"},
                },
                {
                    "code": "DS-002",
                    "title": "Deploy script exists",
                    "category": "deploy",
                    "severity": "critical",
                    "kind": "repository",
                    "config": {"rule": "file_exists", "files": ["deploy.sh"]},
                },
                {
                    "code": "SEC-001",
                    "title": "No plaintext secrets in compose",
                    "category": "deploy",
                    "severity": "critical",
                    "kind": "repository",
                    "config": {"rule": "compose_no_plaintext_secrets"},
                },
            ],
        },
        sort_keys=False,
    )


@pytest.fixture
def repos(tmp_path, settings):  # type: ignore[no-untyped-def]
    root = tmp_path / "repos"
    root.mkdir()
    settings.PREFLIGHT_REPOSITORY_ROOT = root
    settings.PREFLIGHT_GIT_CACHE_DIR = tmp_path / "git-cache"
    settings.PREFLIGHT_GIT_TIMEOUT_SECONDS = 30
    return root


@pytest.fixture
def origin(repos) -> Origin:  # type: ignore[no-untyped-def]
    return Origin(repos)


def results(run_id: int) -> dict[str, CheckResult]:
    return {
        r.check_item.code: r
        for r in CheckResult.objects.filter(run_id=run_id).select_related("check_item")
    }


# The catalog ---------------------------------------------------------------------------------


def test_the_catalog_imports_and_exports_the_repository_block(project, environments, origin):
    summary = import_catalog(
        actor=OPERATOR, project=project, text=catalog("pos.git"), check_access=False
    )
    assert summary.repository_changed
    project.refresh_from_db()
    assert project.repository == {
        "url": "pos.git",
        "default_branch": "main",
        "tag_pattern": "v{version}",
    }
    exported = yaml.safe_load(export_catalog(project))
    assert exported["repository"] == project.repository
    again = import_catalog(
        actor=OPERATOR, project=project, text=export_catalog(project), check_access=False
    )
    assert not again.changed
    event = AuditEvent.objects.filter(action="catalog.imported").latest("seq")
    assert event.after["repository"] == {"before": {}, "after": project.repository}


def test_a_catalog_without_the_block_removes_the_repository(project, environments, origin):
    import_catalog(actor=OPERATOR, project=project, text=catalog("pos.git"), check_access=False)
    without = yaml.safe_load(catalog("pos.git"))
    del without["repository"]
    for check in without["checks"]:
        check["config"]["path"] = "checkouts/{version}"
    import_catalog(
        actor=OPERATOR, project=project, text=yaml.safe_dump(without), check_access=False
    )
    project.refresh_from_db()
    assert project.repository == {}
    assert "repository" not in yaml.safe_load(export_catalog(project))


def test_a_repository_check_without_path_needs_the_block(project, environments):
    without = yaml.safe_load(catalog("pos.git"))
    del without["repository"]
    with pytest.raises(CatalogInvalid) as invalid:
        import_catalog(
            actor=OPERATOR, project=project, text=yaml.safe_dump(without), check_access=False
        )
    assert invalid.value.errors[0].startswith("checks[0] (DS-001) field config.path: is required")


def test_a_bad_block_is_refused_with_the_rest_of_the_file_unchanged(project, environments, repos):
    text = catalog("https://git.example.com/pos.git", credentials_env="SECRET_KEY")
    with pytest.raises(CatalogInvalid) as invalid:
        import_catalog(actor=OPERATOR, project=project, text=text, check_access=False)
    assert invalid.value.errors == [
        "repository.credentials_env: SECRET_KEY is Preflight's own configuration; "
        "name a variable of the checked system"
    ]
    project.refresh_from_db()
    assert project.repository == {}
    assert not project.checks.exists()


# Registering releases ------------------------------------------------------------------------


def test_a_short_commit_is_refused_for_a_project_with_a_repository(project, environments, origin):
    import_catalog(actor=OPERATOR, project=project, text=catalog("pos.git"), check_access=False)
    ci = bearer(service_token(project))
    short = ci.post(f"{P}/releases/", {"version": "1.0.0", "git_sha": "abc1234"}, format="json")
    assert short.status_code == 400
    assert "full commit id" in short.json()["fields"]["git_sha"][0]
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    full = ci.post(f"{P}/releases/", {"version": "1.0.0", "git_sha": sha}, format="json")
    assert full.status_code == 201


def test_a_short_commit_is_still_fine_without_a_repository(project, environments):
    ci = bearer(service_token(project))
    answer = ci.post(f"{P}/releases/", {"version": "1.0.0", "git_sha": "abc1234"}, format="json")
    assert answer.status_code == 201


# Runs, end to end ------------------------------------------------------------------------------


def register_and_run(client, version: str, sha: str) -> int:  # type: ignore[no-untyped-def]
    answer = client.post(f"{P}/releases/", {"version": version, "git_sha": sha}, format="json")
    assert answer.status_code == 201, answer.json()
    started = client.post(
        f"{P}/releases/{version}/runs/", {"environment": "staging"}, format="json"
    )
    assert started.status_code == 202, started.json()
    run_id = started.json()["id"]
    run_execute(run_id)  # what the worker's task calls
    return int(run_id)


def test_a_run_judges_the_release_commit_and_the_fix_in_the_next_release_passes(
    project, environments, deployer, origin
):
    import_catalog(actor=OPERATOR, project=project, text=catalog("pos.git"), check_access=False)
    client = bearer(user_token(deployer))
    first = origin.commit({"deploy.sh": DEPLOY_SLEEPING, "docker-compose.yml": COMPOSE_SECRET})
    run_id = register_and_run(client, "1.0.0", first)
    found = results(run_id)
    assert found["DS-001"].status == "fail"
    assert "deploy.sh:4: sleep 30" in found["DS-001"].detail
    assert found["DS-002"].status == "pass"
    assert found["SEC-001"].status == "fail"
    assert "docker-compose.yml:5" in found["SEC-001"].detail
    assert "hunter2-prod-pw" not in found["SEC-001"].detail
    answer = client.get(f"/api/v1/runs/{run_id}/").json()
    assert {r["check"]: r["status"] for r in answer["results"]} == {
        "DS-001": "fail",
        "DS-002": "pass",
        "SEC-001": "fail",
    }

    fix = origin.commit(
        {"deploy.sh": DEPLOY_POLLING, "docker-compose.yml": COMPOSE_CLEAN}, "poll, no secrets"
    )
    run_id = register_and_run(client, "1.0.1", fix)
    assert {code: r.status for code, r in results(run_id).items()} == {
        "DS-001": "pass",
        "DS-002": "pass",
        "SEC-001": "pass",
    }
    answer = client.get(f"/api/v1/runs/{run_id}/").json()
    assert answer["score"] == 100.0


def test_a_wrong_credential_errors_every_repository_check_with_no_secret_anywhere(
    project, environments, deployer, origin, repos, monkeypatch, caplog
):
    wrong = "wr0ng-t0ken-77e1b3"
    monkeypatch.setenv("POS_GIT_TOKEN", wrong)
    with GitHTTPServer(repos, token=TOKEN) as server:
        url = server.url("pos.git")
        import_catalog(
            actor=OPERATOR,
            project=project,
            text=catalog(url, credentials_env="POS_GIT_TOKEN"),
            check_access=False,
        )
        sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
        with caplog.at_level(logging.DEBUG):
            run_id = register_and_run(bearer(user_token(deployer)), "1.0.0", sha)
    found = results(run_id)
    line = f"The repository {url} refused the credential in POS_GIT_TOKEN."
    assert {code: (r.status, r.detail) for code, r in found.items()} == dict.fromkeys(
        ("DS-001", "DS-002", "SEC-001"), ("error", line)
    )
    assert wrong not in caplog.text
    for event in AuditEvent.objects.all():
        assert wrong not in str(event.after) + str(event.before) + event.message
    assert server.requests  # the server was asked (and refused)


def test_a_run_with_the_right_credential_over_http_finds_the_problems(
    project, environments, deployer, origin, repos, monkeypatch
):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    with GitHTTPServer(repos, token=TOKEN) as server:
        import_catalog(
            actor=OPERATOR,
            project=project,
            text=catalog(server.url("pos.git"), credentials_env="POS_GIT_TOKEN"),
            check_access=False,
        )
        sha = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
        run_id = register_and_run(bearer(user_token(deployer)), "1.0.0", sha)
    found = results(run_id)
    assert found["DS-001"].status == "fail"
    assert "deploy.sh:4" in found["DS-001"].detail
    # One fetch for the run's three checks: one advertisement of the refs.
    assert len([r for r in server.requests if "service=git-upload-pack" in r["path"]]) == 1


def test_a_commit_missing_from_the_repository_errors_the_run_s_repository_checks(
    project, environments, deployer, origin
):
    import_catalog(actor=OPERATOR, project=project, text=catalog("pos.git"), check_access=False)
    origin.commit({"deploy.sh": DEPLOY_POLLING})
    unknown = "0123456789abcdef0123456789abcdef01234567"
    run_id = register_and_run(bearer(user_token(deployer)), "1.0.0", unknown)
    details = {r.detail for r in results(run_id).values()}
    assert details == {"Commit 0123456789ab is not in pos.git."}


def test_projects_without_a_repository_keep_reading_trees_under_the_root(
    project, environments, deployer, repos
):
    text = textwrap.dedent(
        """\
        version: 1
        categories: [{key: deploy, name: Deployment, weight: 100}]
        checks:
        - {code: DS-001, title: Sleeps, category: deploy, severity: high, kind: repository,
           config: {rule: no_fixed_sleeps, path: "checkouts/{version}"}}
        """
    )
    import_catalog(actor=OPERATOR, project=project, text=text, check_access=False)
    tree = repos / "checkouts" / "1.0.0"
    tree.mkdir(parents=True)
    (tree / "deploy.sh").write_text(DEPLOY_SLEEPING)
    run_id = register_and_run(bearer(user_token(deployer)), "1.0.0", "abc1234")
    assert results(run_id)["DS-001"].status == "fail"


def test_a_run_lists_what_changed_since_the_release_verified_in_its_environment(
    project, environments, deployer, origin
):
    text = yaml.safe_load(catalog("pos.git"))
    text["checks"].append(
        {
            "code": "GIT-003",
            "title": "Changes since the deployed release",
            "category": "deploy",
            "severity": "low",
            "kind": "repository",
            "config": {"rule": "changed_since_deployed"},
        }
    )
    import_catalog(actor=OPERATOR, project=project, text=yaml.safe_dump(text), check_access=False)
    client = bearer(user_token(deployer))
    first = origin.commit({"deploy.sh": DEPLOY_POLLING, "docker-compose.yml": COMPOSE_CLEAN})
    run_id = register_and_run(client, "1.0.0", first)
    assert results(run_id)["GIT-003"].status == "skipped"
    DeploymentFactory(
        release=project.releases.get(version="1.0.0"),
        environment=environments["staging"],
        status="verified",
        verified_at=timezone.now(),
    )
    second = origin.commit({"db/migrations/002.sql": "alter table t add c int;"})
    run_id = register_and_run(client, "1.0.1", second)
    changed = results(run_id)["GIT-003"]
    assert changed.status == "pass"
    assert changed.detail == (
        "1 file changed since 1.0.0 (verified in staging): db/migrations/002.sql: added."
    )
    assert changed.data["files"] == [
        {"path": "db/migrations/002.sql", "status": "added", "old_path": ""}
    ]
