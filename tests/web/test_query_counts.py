"""Pages cost the same number of queries with 1 row as with 500: nothing is fetched per row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.actors import Actor
from checks.models import Attestation, Check, CheckResult, ManualTick, Waiver
from releases.models import Approval, Deployment, Environment, FreezeWindow, Release
from releases.services.tokens import token_issue
from tests.factories import CategoryFactory, RunFactory

pytestmark = pytest.mark.django_db


def queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def add_checks(release, environment, run, category, users, start: int, count: int) -> None:
    """``count`` checks with results (every status and source), checklist ticks (critical ones
    by the release's creator, some attested), waivers and approvals with their evidence."""
    statuses = ["pass", "fail", "warn", "pending", "error"]
    pipeline, _ = token_issue(
        actor=Actor.of_system("test"), name=f"pipeline-{start}", project=release.project
    )
    checks = Check.objects.bulk_create(
        Check(
            project=release.project,
            category=category,
            code=f"Q-{start + n:04d}",
            title=f"Check {start + n}",
            severity=["low", "medium", "high", "critical"][n % 4],
            kind="manual",
            in_checklist=True,
            phase=["pre-deploy-week", "pre-deploy-day", "during", "post"][n % 4],
            position=start + n,
        )
        for n in range(count)
    )
    CheckResult.objects.bulk_create(
        CheckResult(
            run=run,
            check_item=check,
            category=category,
            severity=check.severity,
            status=statuses[n % len(statuses)],
            detail="detail",
            evidence_url="https://ci.example/1",
            evaluated_at=timezone.now(),
            source=["worker", "person", "pipeline", "legacy"][n % 4],
            source_user=users[n % len(users)] if n % 4 == 1 else None,
            source_token=pipeline if n % 4 == 2 else None,
            attested_by=users[0] if n % 4 == 1 else None,
        )
        for n, check in enumerate(checks)
    )
    ticks = ManualTick.objects.bulk_create(
        ManualTick(
            release=release,
            environment=environment,
            check_item=check,
            ticked_by=release.created_by if check.severity == "critical" else users[n % len(users)],
            note="n",
        )
        for n, check in enumerate(checks)
    )
    Attestation.objects.bulk_create(
        Attestation(tick=tick, attested_by=users[n % len(users)])
        for n, tick in enumerate(ticks)
        if tick.check_item.severity == "critical" and n % 8 == 3
    )
    Waiver.objects.bulk_create(
        Waiver(
            release=release,
            check_item=check,
            reason="ok",
            expires_at=timezone.now() + timedelta(days=3),
            created_by=users[n % len(users)],
        )
        for n, check in enumerate(checks)
        if n % 5 == 1
    )
    Approval.objects.bulk_create(
        Approval(
            release=release,
            environment=environment,
            approver=users[n % len(users)],
            decision="approve",
            run=run,
            score=80,
            evidence={c.code: "pass" for c in checks},
        )
        for n in range(count)
    )
    Deployment.objects.bulk_create(
        Deployment(
            release=release,
            environment=environment,
            # Failed: the gate, the approvals and the rollback are all on the page.
            status="failed",
            started_by=users[n % len(users)],
            started_at=timezone.now() - timedelta(days=n + 1),
        )
        for n in range(count)
    )


def test_the_release_page_does_not_query_per_row(
    client_of, approver, approver2, admin, release, environments
):
    production = environments["production"]
    run = RunFactory(release=release, environment=production)
    category = CategoryFactory(project=release.project, key="all", weight=100)
    users = [approver, approver2, admin]
    client = client_of(approver)
    path = f"/projects/shop/releases/1.0.0/{production.slug}/"

    add_checks(release, production, run, category, users, 0, 1)
    few = queries(client, path)
    add_checks(release, production, run, category, users, 1, 499)
    many = queries(client, path)
    assert many == few
    html = client.get(path).content.decode()
    assert "awaiting attestation" in html  # the page did show what the rows hold
    assert "Attested by" in html
    assert "Approval by" in html
    assert "is stale:" in html


def test_the_overview_does_not_query_per_row(client_of, approver, project, environments):
    client = client_of(approver)

    def add(start: int, count: int) -> None:
        releases = Release.objects.bulk_create(
            Release(project=project, version=f"2.{start + n}", git_sha="abcdef1")
            for n in range(count)
        )
        Deployment.objects.bulk_create(
            Deployment(
                release=r,
                environment=environments["staging"],
                status="verified",
                started_at=timezone.now() - timedelta(hours=n + 1),
            )
            for n, r in enumerate(releases)
        )

    add(0, 1)
    few = queries(client, "/")
    add(1, 499)
    many = queries(client, "/")
    assert many == few


def test_the_pipeline_does_not_query_per_row(client_of, admin, project, environments):
    client = client_of(admin)

    def add(start: int, count: int) -> None:
        releases = Release.objects.bulk_create(
            Release(
                project=project,
                version=f"3.{start + n}",
                git_sha="abcdef1",
                created_at=timezone.now() - timedelta(minutes=start + n),
            )
            for n in range(count)
        )
        Deployment.objects.bulk_create(
            Deployment(
                release=r,
                environment=environments["development"],
                status="verified",
                started_at=timezone.now() - timedelta(hours=n + 1),
            )
            for n, r in enumerate(releases)
        )
        FreezeWindow.objects.bulk_create(
            FreezeWindow(
                environment=environments["production"],
                starts_at=timezone.now() + timedelta(days=start + n + 1),
                ends_at=timezone.now() + timedelta(days=start + n + 1, hours=2),
                reason="holiday",
            )
            for n in range(count)
        )

    add(0, 1)
    few = queries(client, "/projects/shop/")
    add(1, 499)
    many = queries(client, "/projects/shop/")
    assert many == few


def test_the_overview_costs_the_same_however_many_projects(
    client_of, approver, project, environments
):
    from checks.views.pipeline import EAGER_CARDS
    from releases.models import Membership, Project

    client = client_of(approver)

    def join(count: int) -> None:
        start = Project.objects.count()
        for n in range(count):
            other = Project.objects.create(slug=f"p{start + n}", name=f"P{start + n}")
            Membership.objects.create(project=other, user=approver, role="viewer")
            for position, slug in enumerate(("dev", "prod")):
                Environment.objects.create(project=other, slug=slug, name=slug, position=position)

    join(EAGER_CARDS)  # the first cards are rendered in the page, the rest load one by one
    few = queries(client, "/")
    join(20)
    many = queries(client, "/")
    assert many == few
    page = client.get("/").content.decode()
    assert page.count('hx-trigger="load"') == 1 + EAGER_CARDS + 20 - EAGER_CARDS


def _releases_with_history(project, environments, users, start: int, count: int) -> None:
    """``count`` releases, each with a finished run and results in every environment,
    approvals, a deployment in each environment but the last, and a rollback in staging."""
    category = CategoryFactory(project=project, key=f"c{start}", weight=0)
    checks = Check.objects.bulk_create(
        Check(project=project, category=category, code=f"R-{start}-{n}", title="t", severity="low")
        for n in range(3)
    )
    envs = list(environments.values())
    base = Release.objects.create(project=project, version=f"0.{start}", git_sha="abcdef1")
    for n in range(count):
        release = Release.objects.create(
            project=project,
            version=f"4.{start + n}",
            git_sha="abcdef1",
            created_at=timezone.now() - timedelta(minutes=start + n),
        )
        for env in envs:
            run = RunFactory(release=release, environment=env)
            CheckResult.objects.bulk_create(
                CheckResult(run=run, check_item=c, category=category, severity="low", status="pass")
                for c in checks
            )
            Approval.objects.create(
                release=release,
                environment=env,
                approver=users[n % len(users)],
                decision="approve",
                run=run,
            )
        good = [
            Deployment.objects.create(
                release=release,
                environment=env,
                status="verified",
                started_at=timezone.now() - timedelta(hours=start + n + 1),
            )
            for env in envs[:-1]
        ]
        Deployment.objects.create(
            release=base,
            environment=envs[1],
            status="verified",
            rollback_of=good[1],
            started_at=timezone.now() - timedelta(minutes=start + n),
        )


def test_the_pipeline_costs_the_same_with_few_and_many_releases_in_every_state(
    client_of, admin, approver, approver2, project, environments
):
    from checks.views.pipeline import RECENT_RELEASES

    client = client_of(admin)
    _releases_with_history(project, environments, [approver, approver2], 0, 1)
    few = queries(client, "/projects/shop/")
    _releases_with_history(project, environments, [approver, approver2], 1, RECENT_RELEASES + 4)
    many = queries(client, "/projects/shop/")
    assert many == few
    html = client.get("/projects/shop/").content.decode()
    assert "rolled back" in html
    assert "gate open" in html or "gate closed" in html


def test_the_release_page_costs_the_same_with_few_and_many_releases(
    client_of, approver, approver2, project, release, environments
):
    client = client_of(approver)
    path = "/projects/shop/releases/1.0.0/staging/"
    _releases_with_history(project, environments, [approver2], 0, 1)
    few = queries(client, path)
    _releases_with_history(project, environments, [approver2], 1, 30)
    many = queries(client, path)
    assert many == few


def _project_in_every_state(n: int, member, approver, creator):  # type: ignore[no-untyped-def]
    """A project (2 to 5 environments, by ``n``) whose latest release is, across its
    environments, in every state, with runs finished and running, approvals, a lock and a
    freeze; ``member`` and ``approver`` are members."""
    from releases.models import Lock, Membership, Project

    project = Project.objects.create(slug=f"every-{n}", name=f"Every {n}")
    Membership.objects.create(project=project, user=member, role="viewer")
    Membership.objects.create(project=project, user=approver, role="approver")
    envs = [
        Environment.objects.create(
            project=project,
            slug=f"e{position}",
            name=f"E{position}",
            position=position,
            required_approvals=1,
            requires_previous=position > 0,
            min_score=50,
        )
        for position in range(2 + n % 4)
    ]
    category = CategoryFactory(project=project, key="all", weight=100)
    check = Check.objects.create(
        project=project, category=category, code=f"E-{n}", title="t", severity="low"
    )
    older = Release.objects.create(
        project=project,
        version="1.0",
        git_sha="abcdef1",
        created_by=creator,
        created_at=timezone.now() - timedelta(days=2),
    )
    latest = Release.objects.create(
        project=project, version="2.0", git_sha="abcdef2", created_by=creator
    )
    hours = iter(range(100, 0, -1))

    def deploy(release, env, status, **extra):  # type: ignore[no-untyped-def]
        return Deployment.objects.create(
            release=release,
            environment=env,
            status=status,
            started_at=timezone.now() - timedelta(hours=next(hours)),
            **extra,
        )

    # Verified, failed, rolled back, in progress, never: one environment each, cycling.
    for position, env in enumerate(envs):
        run = RunFactory(
            release=latest, environment=env, status="running" if position == 3 else "finished"
        )
        status = "pass" if position % 2 == 0 else "fail"
        CheckResult.objects.create(
            run=run, check_item=check, category=category, severity="low", status=status
        )
        Approval.objects.create(
            release=latest,
            environment=env,
            approver=approver,
            decision="approve",
            run=run,
            score=100 if status == "pass" else 0,
            evidence={check.code: status},
        )
        kind = position % 5
        if kind == 0:
            deploy(latest, env, "verified")
        elif kind == 1:
            deploy(latest, env, "failed")
        elif kind == 2:
            deploy(older, env, "verified")
            good = deploy(latest, env, "verified")
            deploy(older, env, "verified", rollback_of=good)
        elif kind == 3:
            deploy(latest, env, "in_progress")
    Lock.objects.create(environment=envs[-1], reason="x", owner_label="root")
    FreezeWindow.objects.create(
        environment=envs[1],
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=1),
        reason="holiday",
    )
    return project


def test_the_overview_costs_the_same_for_one_project_as_for_several_in_every_state(
    approver, approver2, deployer, client_of
):
    """The first cards are built together: their gates, states, holds and versions in queries
    that do not grow with the projects or their environments."""
    from checks.views.pipeline import EAGER_CARDS

    client = client_of(approver2)
    _project_in_every_state(0, approver2, approver, deployer)
    one = queries(client, "/")
    for n in range(1, EAGER_CARDS):
        _project_in_every_state(n, approver2, approver, deployer)
    several = queries(client, "/")
    assert several == one
    page = client.get("/").content.decode()
    assert page.count('<section class="card" aria-labelledby=') == EAGER_CARDS
    for shown in ("verified", "failed", "rolled back", "in progress", "open", "closed"):
        assert shown in page


def test_the_overview_cards_say_what_each_gate_says(approver, approver2, deployer):
    """Built together, each card's row shows the gate and the state its release has there
    when asked about alone."""
    from checks.gate import evaluate_gate
    from checks.views.pipeline import _cards
    from releases.states import states_for

    projects = [_project_in_every_state(n, approver2, approver, deployer) for n in range(4)]
    cards = _cards([(project, "viewer") for project in projects])
    assert [card.project for card in cards] == projects
    rows = 0
    for card in cards:
        assert card.latest is not None
        assert card.latest.version == "2.0"
        assert [row.environment.pk for row in card.rows] == list(
            card.project.environments.order_by("position").values_list("pk", flat=True)
        )
        for row in card.rows:
            single = evaluate_gate(card.latest, row.environment)
            assert row.gate is not None
            assert row.gate.allowed == single.allowed
            assert row.gate.reasons == single.reasons
            assert row.gate.holds == single.holds
            assert row.gate.score == single.score
            assert (
                row.state
                == states_for([card.latest], [row.environment])[card.latest.pk, row.environment.pk]
            )
            rows += 1
    assert rows == 2 + 3 + 4 + 5
    assert {row.state.state for card in cards for row in card.rows if row.state} >= {
        "verified",
        "failed",
        "rolled_back",
        "in_progress",
        "not_yet",
    }
    assert any(row.gate and row.gate.allowed for card in cards for row in card.rows)
