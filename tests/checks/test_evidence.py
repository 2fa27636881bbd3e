"""Where each result comes from (PRODUCT.md "Evidence"): the worker, a person or a pipeline is
recorded with the result; ci checks take results from the project's service tokens only (and
only those a check names); results recorded before sources were kept say so."""

from __future__ import annotations

import pytest

from audit.actors import Actor
from audit.models import AuditEvent
from checks.evidence import source_of, source_phrase
from checks.models import CheckResult, ReportedResult
from checks.services.results import ci_result_record, tick_record
from checks.services.runs import run_execute, run_start
from core.errors import Denied
from releases.services.tokens import token_issue

from ..conftest import as_actor
from ..factories import CategoryFactory, CheckFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SETUP = Actor.of_system("test")


@pytest.fixture
def world(project, release, environments, deployer, http_server):  # type: ignore[no-untyped-def]
    """1.0.0 in staging with a manual, a ci and an http check, and a finished run of them."""
    category = CategoryFactory(project=project, key="all", weight=100)
    checks = {
        "manual": CheckFactory(project=project, category=category, code="M-001", kind="manual"),
        "ci": CheckFactory(project=project, category=category, code="CI-001", kind="ci"),
        "http": CheckFactory(
            project=project,
            category=category,
            code="HC-001",
            kind="http",
            config={"url": http_server.url("/ok")},
        ),
    }
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    run_execute(run.pk)
    return {"run": run, "staging": environments["staging"], **checks}


def result(world, key) -> CheckResult:  # type: ignore[no-untyped-def]
    return CheckResult.objects.select_related(
        "check_item", "source_user", "source_token", "attested_by"
    ).get(run=world["run"], check_item=world[key])


def report(actor, release, world, status="pass"):  # type: ignore[no-untyped-def]
    return ci_result_record(
        actor=actor, release=release, environment=world["staging"], check=world["ci"], status=status
    )


def test_an_automated_check_is_the_workers(world):
    checked = result(world, "http")
    assert checked.status == "pass"
    assert source_of(checked) == {
        "kind": "worker",
        "user": None,
        "token": None,
        "attested_by": None,
    }
    assert source_phrase(checked) == "by Preflight's worker (http check)"


def test_a_tick_is_the_persons_who_ticked(world, release, deployer):
    tick_record(
        actor=as_actor(deployer),
        release=release,
        environment=world["staging"],
        check=world["manual"],
    )
    ticked = result(world, "manual")
    assert (ticked.status, ticked.source, ticked.source_user) == ("pass", "person", deployer)
    assert source_phrase(ticked) == "by dana"


def test_a_report_is_the_pipelines_that_reported(world, release, project):
    token, _ = token_issue(actor=SETUP, name="github-actions", project=project)
    stored = report(Actor.of_token(token), release, world)
    assert stored.token == token
    reported = result(world, "ci")
    assert (reported.status, reported.source, reported.source_token) == ("pass", "pipeline", token)
    assert source_of(reported)["token"] == "github-actions"
    assert source_phrase(reported) == "by the pipeline github-actions"
    # A new run reads that report, with its source.
    run, _ = run_start(actor=Actor.of_token(token), release=release, environment=world["staging"])
    run_execute(run.pk)
    fresh = CheckResult.objects.get(run=run, check_item=world["ci"])
    assert (fresh.status, fresh.source, fresh.source_token_id) == ("pass", "pipeline", token.pk)


def _refused_as_not_a_pipeline(actor, release, world) -> Denied:  # type: ignore[no-untyped-def]
    with pytest.raises(Denied) as refused:
        report(actor, release, world)
    assert refused.value.code == "not_a_pipeline"
    assert not ReportedResult.objects.exists()
    assert result(world, "ci").status == "pending"
    return refused.value


def test_the_creators_user_token_cannot_report(world, release, deployer):
    token, _ = token_issue(actor=SETUP, name="laptop", user=deployer)
    refused = _refused_as_not_a_pipeline(Actor.of_token(token), release, world)
    assert "not from a person's token (token:laptop for dana)" in refused.detail
    event = AuditEvent.objects.get(action="check.reported")
    assert (event.outcome, event.actor, event.after["check"]) == (
        "denied",
        "token:laptop for dana",
        "CI-001",
    )


def test_another_deployers_token_and_an_admins_session_cannot_report(
    world, release, project, admin
):
    dora = UserFactory(username="dora")
    MembershipFactory(project=project, user=dora, role="deployer")
    token, _ = token_issue(actor=SETUP, name="laptop", user=dora)
    _refused_as_not_a_pipeline(Actor.of_token(token), release, world)
    refused = _refused_as_not_a_pipeline(as_actor(admin), release, world)
    assert "not from a browser session (root)" in refused.detail
    assert AuditEvent.objects.filter(action="check.reported", outcome="denied").count() == 2


def test_a_check_naming_its_services_takes_only_those(world, release, project):
    world["ci"].config = {"services": ["github-actions"]}
    world["ci"].save()
    nightly, _ = token_issue(actor=SETUP, name="nightly", project=project)
    refused = _refused_as_not_a_pipeline(Actor.of_token(nightly), release, world)
    assert refused.detail == "CI-001 accepts results from github-actions only, not from nightly."
    listed, _ = token_issue(actor=SETUP, name="github-actions", project=project)
    report(Actor.of_token(listed), release, world)
    assert result(world, "ci").source_token == listed


def test_a_report_from_before_sources_were_kept_is_not_read_by_a_new_run(world, release, deployer):
    ReportedResult.objects.create(
        release=release,
        environment=world["staging"],
        check_item=world["ci"],
        status="pass",
        reported_by_label="token:laptop for dana",
    )
    run, _ = run_start(actor=as_actor(deployer), release=release, environment=world["staging"])
    run_execute(run.pk)
    assert CheckResult.objects.get(run=run, check_item=world["ci"]).status == "pending"


def test_a_legacy_result_keeps_its_status_and_says_its_source_is_unknown(world):
    CheckResult.objects.filter(run=world["run"], check_item=world["http"]).update(source="legacy")
    legacy = result(world, "http")
    assert legacy.status == "pass"
    assert source_of(legacy)["kind"] == "legacy"
    assert source_phrase(legacy) == "unknown (recorded before Preflight kept sources)"
