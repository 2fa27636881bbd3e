"""Upgrading keeps what was recorded: results keep their status and say their source is unknown
(legacy); approvals recorded before snapshots get the evidence of their run as it stands, so
they keep counting until the evidence gets worse."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("checks", "0002_initial"), ("releases", "0005_deployment_recorded_after_the_fact")]
AFTER = [
    ("checks", "0003_result_sources_and_attestations"),
    ("releases", "0003_approval_evidence_snapshot"),
]


def _migrate_to_the_latest() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    return executor


@pytest.fixture
def before():  # type: ignore[no-untyped-def]
    """The database as it was before sources and snapshots; the latest schema again after."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    _migrate_to_the_latest()


@pytest.mark.django_db(transaction=True)
def test_results_and_approvals_recorded_before_keep_their_meaning(before):
    old = before
    User = old.get_model("auth", "User")
    Project, Environment = (
        old.get_model("releases", "Project"),
        old.get_model("releases", "Environment"),
    )
    Release, Approval = old.get_model("releases", "Release"), old.get_model("releases", "Approval")
    Category, Check = old.get_model("checks", "Category"), old.get_model("checks", "Check")
    Run, Result = old.get_model("checks", "ReadinessRun"), old.get_model("checks", "CheckResult")
    Waiver = old.get_model("checks", "Waiver")

    ana = User.objects.create(username="ana")
    project = Project.objects.create(slug="shop", name="Shop")
    staging = Environment.objects.create(
        project=project, slug="staging", name="Staging", position=0
    )
    release = Release.objects.create(project=project, version="1.0.0", git_sha="abcdef1")
    category = Category.objects.create(project=project, key="all", name="All", weight=100)
    run = Run.objects.create(
        release=release, environment=staging, status="finished", score=Decimal("100.0")
    )
    statuses = {"A-001": "pass", "B-001": "fail", "C-001": "pending"}
    for code, status in statuses.items():
        check = Check.objects.create(
            project=project, category=category, code=code, title=code, severity="high", kind="ci"
        )
        Result.objects.create(
            run=run, check_item=check, category=category, severity="high", status=status
        )
    Waiver.objects.create(
        release=release,
        check_item=Check.objects.get(code="B-001"),
        reason="accepted",
        expires_at=timezone.now() + timedelta(days=1),
        created_by=ana,
    )
    Approval.objects.create(
        release=release, environment=staging, approver=ana, decision="approve", run=run
    )

    executor = _migrate_to_the_latest()
    new = executor.loader.project_state(executor.loader.graph.leaf_nodes()).apps

    results = new.get_model("checks", "CheckResult").objects.values_list(
        "check_item__code", "status", "source"
    )
    assert sorted(results) == [
        ("A-001", "pass", "legacy"),
        ("B-001", "fail", "legacy"),
        ("C-001", "pending", "legacy"),
    ]
    approval = new.get_model("releases", "Approval").objects.get()
    assert approval.score == Decimal("100.0")
    assert approval.evidence == {"A-001": "pass", "B-001": "waived", "C-001": "pending"}
    # Results written after the upgrade are the worker's unless said otherwise.
    field = new.get_model("checks", "CheckResult")._meta.get_field("source")
    assert field.default == "worker"
