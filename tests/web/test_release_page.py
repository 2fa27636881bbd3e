from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from checks.models import ManualTick, ReadinessRun, Waiver
from releases.models import Approval, Deployment, Membership
from tests.factories import CheckFactory, DeploymentFactory, ResultFactory, RunFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def url(env="production", action="", version="1.0.0"):
    return f"/projects/shop/releases/{version}/{env}/{action}"


# Reading -----------------------------------------------------------------------------------


def test_outsider_gets_404(client_of, outsider, release, environments):
    assert client_of(outsider).get(url()).status_code == 404


def test_unknown_version_or_environment_is_404(client_of, viewer, release, environments):
    client = client_of(viewer)
    assert client.get(url(version="9.9.9")).status_code == 404
    assert client.get(url(env="moon")).status_code == 404


def test_the_page_says_why_the_gate_is_closed(client_of, viewer, release, environments):
    html = client_of(viewer).get(url()).content.decode()
    assert "the gate is closed" in html
    assert "No readiness run for 1.0.0 in Production yet" in html


def test_the_breakdown_shows_weights_scores_and_the_threshold(
    client_of, viewer, passing_run, environments
):
    html = client_of(viewer).get(url()).content.decode()
    assert "Score breakdown" in html
    assert "100%" in html  # the category's weight
    assert "Needed for Production" in html
    assert "How the score is computed" in html


def test_a_viewer_sees_no_approve_form_and_is_told_why(client_of, viewer, passing_run):
    html = client_of(viewer).get(url()).content.decode()
    assert 'value="approve"' not in html
    assert "Your role (viewer) does not approve" in html


def test_the_creator_is_told_about_the_four_eyes_rule(client_of, deployer, passing_run):
    Membership.objects.filter(user=deployer).update(role="approver")
    html = client_of(deployer).get(url()).content.decode()
    assert "four-eyes rule" in html
    assert 'value="approve"' not in html


def test_a_stale_approval_is_explained_in_the_panel(client_of, approver, passing_run, release):
    production = passing_run["production"].environment
    Approval.objects.create(
        release=release,
        environment=production,
        approver=approver,
        decision="approve",
        run=passing_run["production"],
        created_at=timezone.now() - timedelta(days=30),
    )
    production.approval_ttl = timedelta(days=7)
    production.save()
    html = client_of(approver).get(url()).content.decode()
    assert "Approval by ana is stale: older than the Production approval lifetime" in html
    assert "Your approval is stale" in html


def test_filters_in_the_query_string_narrow_the_checks(client_of, viewer, passing_run, release):
    check = CheckFactory(project=release.project, code="BAD-001", severity="high")
    ResultFactory(run=passing_run["production"], check_item=check, status="fail")
    client = client_of(viewer)
    html = client.get(url() + "?status=failing").content.decode()
    assert "BAD-001" in html
    assert "OK-001" not in html
    # An HTMX filter request gets just the checks part of the same template.
    part = client.get(url() + "?status=pass", HTTP_HX_TARGET="checks", **HX).content.decode()
    assert 'id="checks"' in part
    assert "OK-001" in part
    assert "BAD-001" not in part
    assert "<html" not in part


def test_polling_continues_while_the_run_goes(client_of, viewer, release, environments):
    ReadinessRun.objects.create(
        release=release, environment=environments["production"], status="running"
    )
    response = client_of(viewer).get(url(), HTTP_HX_TARGET="readiness", **HX)
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in response.content.decode()


def test_polling_stops_when_the_run_ends(client_of, viewer, passing_run):
    response = client_of(viewer).get(url(), HTTP_HX_TARGET="readiness", **HX)
    assert response.status_code == 286  # htmx stops polling on 286
    html = response.content.decode()
    assert "every 1s" not in html
    assert 'id="decision" tabindex="-1" aria-labelledby="decision-title" hx-swap-oob="true"' in html
    assert 'id="checklists" open hx-swap-oob="true"' in html


@pytest.mark.parametrize("action", ["runs", "approvals", "deployments", "deployments/break-glass"])
def test_actions_refuse_get(client_of, admin, release, environments, action):
    assert client_of(admin).get(url(action=action)).status_code == 405


# Running checks ----------------------------------------------------------------------------


def test_running_checks_queues_a_run_and_shows_its_progress(
    client_of, deployer, release, environments
):
    CheckFactory(project=release.project, code="CI-001", kind="ci")
    response = client_of(deployer).post(url(action="runs"), **HX)
    assert response.status_code == 200
    run = ReadinessRun.objects.get()
    assert run.status == "queued"
    html = response.content.decode()
    assert f"Readiness run #{run.pk} started" in html
    assert 'hx-trigger="every 1s"' in html


def test_a_viewer_cannot_run_checks(client_of, viewer, release, environments):
    assert client_of(viewer).post(url(action="runs")).status_code == 403
    assert not ReadinessRun.objects.exists()


# Approvals ---------------------------------------------------------------------------------


def test_an_approver_approves_in_place(client_of, approver, passing_run):
    response = client_of(approver).post(
        url(action="approvals"),
        {"decision": "approve", "comment": "", "run": passing_run["production"].pk},
        **HX,
    )
    assert response.status_code == 200
    assert Approval.objects.get().approver == approver
    html = response.content.decode()
    # Only what changed: the decision, with the message beside it and focus on it.
    assert html.startswith('\n<section class="card decision')
    assert (
        '<p class="notice success" id="decision-notice" role="status" tabindex="-1" data-focus>You approved 1.0.0 for Production.</p>'
        in html
    )
    assert 'id="approvals-history" hx-swap-oob="true"' in html
    assert 'id="checks"' not in html
    assert "<html" not in html


def test_a_run_of_another_project_is_answered_like_a_missing_one(client_of, approver, passing_run):
    elsewhere = RunFactory()  # a release and environment of another project
    client = client_of(approver)
    answers = [
        client.post(url(action="approvals"), {"decision": "approve", "run": run}, **HX)
        for run in (elsewhere.pk, elsewhere.pk + 1000)
    ]
    assert [a.status_code for a in answers] == [422, 422]
    assert all(
        "That readiness run no longer exists; reload the page." in a.content.decode()
        for a in answers
    )
    assert not Approval.objects.exists()


def test_approving_without_javascript_redirects_back(client_of, approver, passing_run):
    response = client_of(approver).post(url(action="approvals"), {"decision": "approve"})
    assert response.status_code == 302
    assert response["Location"].startswith(url())


def test_a_viewer_cannot_approve(client_of, viewer, passing_run):
    response = client_of(viewer).post(url(action="approvals"), {"decision": "approve"})
    assert response.status_code == 403
    assert not Approval.objects.exists()
    assert AuditEvent.objects.filter(outcome="denied").exists()


def test_the_creator_is_refused_with_the_reason(client_of, deployer, passing_run):
    Membership.objects.filter(user=deployer).update(role="approver")
    response = client_of(deployer).post(url(action="approvals"), {"decision": "approve"}, **HX)
    assert response.status_code == 403
    assert "four-eyes rule" in response.content.decode()
    assert not Approval.objects.exists()


def test_rejecting_without_a_comment_is_a_form_error_in_place(client_of, approver, passing_run):
    response = client_of(approver).post(
        url(action="approvals"), {"decision": "reject", "comment": ""}, **HX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Say why you reject the release." in html
    assert html.startswith('\n<section class="card decision')
    assert not Approval.objects.exists()


def test_an_unknown_decision_is_a_form_error(client_of, approver, passing_run):
    response = client_of(approver).post(url(action="approvals"), {"decision": "maybe"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


# Deploying ---------------------------------------------------------------------------------


def test_deploying_needs_the_confirmation(client_of, deployer, passing_run):
    response = client_of(deployer).post(
        url(env="development", action="deployments"), {"strategy": "rolling"}, **HX
    )
    assert response.status_code == 422
    assert "Tick the box to confirm." in response.content.decode()
    assert not Deployment.objects.exists()


def test_a_deployer_deploys_when_the_gate_is_open(client_of, deployer, passing_run):
    client = client_of(deployer)
    assert "Deploy 1.0.0 to Development" in client.get(url(env="development")).content.decode()
    response = client.post(
        url(env="development", action="deployments"),
        {"strategy": "rolling", "confirm": "on"},
        **HX,
    )
    assert response.status_code == 200
    deployment = Deployment.objects.get()
    assert deployment.status == "in_progress"
    assert f"#{deployment.pk}</strong> Development" in response.content.decode()


def test_deploying_with_the_gate_closed_is_refused_with_the_reason(
    client_of, deployer, passing_run
):
    response = client_of(deployer).post(
        url(action="deployments"), {"strategy": "rolling", "confirm": "on"}, **HX
    )
    assert response.status_code == 412
    assert "is closed" in response.content.decode()
    assert not Deployment.objects.exists()


def test_a_viewer_cannot_deploy(client_of, viewer, passing_run):
    response = client_of(viewer).post(
        url(env="development", action="deployments"), {"strategy": "rolling", "confirm": "on"}
    )
    assert response.status_code == 403


def test_break_glass_is_for_admins(client_of, approver, passing_run):
    response = client_of(approver).post(
        url(action="deployments/break-glass"),
        {"strategy": "rolling", "override_reason": "outage", "confirm": "on"},
    )
    assert response.status_code == 403
    assert not Deployment.objects.exists()


def test_break_glass_needs_a_reason(client_of, admin, passing_run):
    response = client_of(admin).post(
        url(action="deployments/break-glass"), {"strategy": "rolling", "confirm": "on"}, **HX
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not Deployment.objects.exists()


def test_break_glass_deploys_loudly(client_of, admin, passing_run):
    response = client_of(admin).post(
        url(action="deployments/break-glass"),
        {"strategy": "rolling", "override_reason": "Payments are down", "confirm": "on"},
        **HX,
    )
    assert response.status_code == 200
    deployment = Deployment.objects.get()
    assert deployment.override_reason == "Payments are down"
    html = response.content.decode()
    assert "break glass" in html
    assert "Reason: Payments are down" in html
    assert AuditEvent.objects.filter(action="deployment.override").exists()


def test_a_deployer_marks_a_deployment_succeeded(client_of, deployer, release, environments):
    deployment = DeploymentFactory(
        release=release, environment=environments["production"], status="in_progress"
    )
    response = client_of(deployer).post(
        url(action=f"deployments/{deployment.pk}/finish"), {"status": "succeeded"}, **HX
    )
    assert response.status_code == 200
    deployment.refresh_from_db()
    assert deployment.status == "succeeded"


# Checklists and waivers --------------------------------------------------------------------


@pytest.fixture
def manual_item(release, passing_run):
    check = CheckFactory(
        project=release.project,
        code="MAN-001",
        kind="manual",
        in_checklist=True,
        phase="pre-deploy-day",
    )
    ResultFactory(run=passing_run["production"], check_item=check, status="pending")
    return check


def test_a_deployer_ticks_a_checklist_item(client_of, deployer, manual_item):
    response = client_of(deployer).post(
        url(action=f"checks/{manual_item.pk}/tick"),
        {"ticked": "1", "note": "Done by hand", "evidence_url": "https://tickets.example/1"},
        **HX,
    )
    assert response.status_code == 200
    tick = ManualTick.objects.get()
    assert tick.note == "Done by hand"
    assert "Ticked by dana" in response.content.decode()


def test_a_bad_evidence_link_is_a_form_error_in_place(client_of, deployer, manual_item):
    response = client_of(deployer).post(
        url(action=f"checks/{manual_item.pk}/tick"),
        {"ticked": "1", "evidence_url": "javascript:alert(1)"},
        **HX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert html.startswith(f'\n      <li id="item-{manual_item.pk}" tabindex="-1" data-focus>')
    assert "Give an http(s) link." in html
    assert not ManualTick.objects.exists()


def test_an_over_long_evidence_link_is_a_form_error_not_a_crash(client_of, deployer, manual_item):
    response = client_of(deployer).post(
        url(action=f"checks/{manual_item.pk}/tick"),
        {"ticked": "1", "evidence_url": "https://tickets.example/" + "x" * 600},
        **HX,
    )
    assert response.status_code == 422
    assert "Keep this to 500 characters; it has 624." in response.content.decode()
    assert not ManualTick.objects.exists()


def test_a_viewer_cannot_tick(client_of, viewer, manual_item):
    response = client_of(viewer).post(url(action=f"checks/{manual_item.pk}/tick"), {"ticked": "1"})
    assert response.status_code == 403


@pytest.fixture
def failing_check(release, passing_run):
    check = CheckFactory(project=release.project, code="LOW-001", severity="low")
    ResultFactory(run=passing_run["production"], check_item=check, status="fail")
    return check


def test_an_approver_waives_a_failing_check(client_of, approver, failing_check):
    expires = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client_of(approver).post(
        url(action=f"checks/{failing_check.pk}/waivers"),
        {"reason": "Known, fixed next week", "expires_at": expires},
        **HX,
    )
    assert response.status_code == 200
    assert Waiver.objects.get().reason == "Known, fixed next week"


def test_a_waiver_too_long_is_a_form_error(client_of, approver, failing_check):
    expires = (timezone.now() + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M")
    response = client_of(approver).post(
        url(action=f"checks/{failing_check.pk}/waivers"),
        {"reason": "later", "expires_at": expires},
        **HX,
    )
    assert response.status_code == 422
    assert "at most 90 days" in response.content.decode()
    assert not Waiver.objects.exists()


def test_a_deployer_cannot_waive(client_of, deployer, failing_check):
    expires = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client_of(deployer).post(
        url(action=f"checks/{failing_check.pk}/waivers"), {"reason": "x", "expires_at": expires}
    )
    assert response.status_code == 403


def test_an_approver_sees_their_own_latest_decision(client_of, approver, passing_run, release):
    Approval.objects.create(
        release=release,
        environment=passing_run["production"].environment,
        approver=approver,
        decision="reject",
        comment="Not yet",
        run=passing_run["production"],
    )
    html = client_of(approver).get(url()).content.decode()
    assert 'You decided <span class="badge reject">reject</span>' in html


def test_the_back_button_gets_the_whole_page(client_of, viewer, passing_run):
    # htmx restoring a page it has no snapshot of asks for it with this header.
    response = client_of(viewer).get(
        url() + "?status=pass", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX
    )
    assert "<html" in response.content.decode()


@pytest.mark.parametrize(
    "action",
    [
        "runs",
        "approvals",
        "deployments",
        "deployments/break-glass",
        "deployments/1/finish",
        "deployments/1/rollback",
        "unlock",
        "checks/1/tick",
        "checks/1/waivers",
        "waivers/1/revoke",
    ],
)
def test_an_outsider_gets_404_for_every_action(client_of, outsider, release, environments, action):
    assert client_of(outsider).post(url(action=action)).status_code == 404


# What is true of the release in the environment ----------------------------------------------


def test_a_release_verified_in_the_environment_says_so_without_the_gate(
    client_of, approver, release, environments
):
    """No "Not yet — the gate is closed (No run)" where the release is verified already, and
    no approving where there is nothing to decide."""
    DeploymentFactory(release=release, environment=environments["staging"], status="verified")
    html = client_of(approver).get(url(env="staging")).content.decode()
    assert "1.0.0 is deployed to Staging and verified" in html
    assert "the gate is closed" not in html
    assert 'id="gate-state"' not in html
    assert ">Approve</button>" not in html
    assert '<span class="badge verified">verified</span>' in html  # the environment's nav


def test_an_environment_that_needs_no_approvals_offers_none(client_of, approver, passing_run):
    html = client_of(approver).get(url(env="development")).content.decode()
    assert "Development needs no approvals." in html
    assert "0 of 0" not in html
    assert ">Approve</button>" not in html


@pytest.fixture
def rolled_out(project, release, environments):  # type: ignore[no-untyped-def]
    from releases.models import Release

    older = Release.objects.create(project=project, version="0.9.0", git_sha="abcdef1")
    staging = environments["staging"]
    now = timezone.now()
    DeploymentFactory(
        release=older, environment=staging, status="verified", started_at=now - timedelta(days=2)
    )
    return DeploymentFactory(
        release=release, environment=staging, status="verified", started_at=now - timedelta(days=1)
    )


def test_the_rollback_form_names_the_release_it_goes_back_to(client_of, deployer, rolled_out):
    html = client_of(deployer).get(url(env="staging")).content.decode()
    assert "Roll back Staging to 0.9.0" in html
    assert f"Replaces 1.0.0 (deployment #{rolled_out.pk}) with 0.9.0" in html


def test_a_rollback_needs_a_reason_and_the_confirmation(client_of, deployer, rolled_out):
    response = client_of(deployer).post(
        url(env="staging", action=f"deployments/{rolled_out.pk}/rollback"), {"reason": ""}, **HX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "This field is required." in html
    assert "Tick the box to confirm." in html
    assert not Deployment.objects.filter(rollback_of__isnull=False).exists()


def test_a_deployer_rolls_back_from_the_page(client_of, deployer, rolled_out, admin):
    from releases.models import Lock

    response = client_of(deployer).post(
        url(env="staging", action=f"deployments/{rolled_out.pk}/rollback"),
        {"reason": "Payments fail", "confirm": "on"},
        **HX,
    )
    assert response.status_code == 200
    rollback = Deployment.objects.get(rollback_of=rolled_out)
    assert rollback.release.version == "0.9.0"
    assert Lock.objects.active().get().deployment == rollback
    html = response.content.decode()
    assert f"Rollback #{rollback.pk} started: Staging goes back to 0.9.0" in html
    assert "1.0.0 was rolled back in Staging" in html
    assert "Only a project admin (root) can lift it" in html
    assert 'id="env-nav" aria-label="1.0.0 in each environment" hx-swap-oob="true"' in html
    assert 'id="history" open hx-swap-oob="true"' in html
    # The rolled-back release is no longer a place to go back to.
    assert "Roll back Staging" not in html


def test_a_viewer_cannot_roll_back(client_of, viewer, rolled_out):
    response = client_of(viewer).post(
        url(env="staging", action=f"deployments/{rolled_out.pk}/rollback"),
        {"reason": "x", "confirm": "on"},
    )
    assert response.status_code == 403
    assert not Deployment.objects.filter(rollback_of__isnull=False).exists()


def test_a_deployment_elsewhere_cannot_be_rolled_back_from_this_page(
    client_of, deployer, rolled_out
):
    response = client_of(deployer).post(
        url(env="production", action=f"deployments/{rolled_out.pk}/rollback"),
        {"reason": "x", "confirm": "on"},
    )
    assert response.status_code == 404


def test_an_admin_lifts_the_rollbacks_lock_from_the_page(client_of, admin, deployer, rolled_out):
    from releases.models import Lock

    client_of(deployer).post(
        url(env="staging", action=f"deployments/{rolled_out.pk}/rollback"),
        {"reason": "Payments fail", "confirm": "on"},
    )
    client = client_of(admin)
    assert "Unlock Staging</button>" in client.get(url(env="staging")).content.decode()
    response = client.post(url(env="staging", action="unlock"), **HX)
    assert response.status_code == 200
    assert "Staging is unlocked." in response.content.decode()
    assert not Lock.objects.active().exists()


def test_a_deployer_cannot_lift_a_lock(client_of, deployer, rolled_out):
    from releases.models import Lock

    Lock.objects.create(environment=rolled_out.environment, reason="x", owner_label="root")
    assert client_of(deployer).post(url(env="staging", action="unlock")).status_code == 403
    assert Lock.objects.active().exists()


# Limits on free text -------------------------------------------------------------------------


def test_a_waiver_reason_past_the_limit_is_a_form_error(client_of, approver, failing_check):
    expires = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client_of(approver).post(
        url(action=f"checks/{failing_check.pk}/waivers"),
        {"reason": "x" * 10_000, "expires_at": expires},
        **HX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Keep this to 2000 characters; it has 10000." in html
    assert html.startswith(f'\n      <div class="check-row" id="check-{failing_check.pk}"')
    assert not Waiver.objects.exists()


def test_free_text_fields_tell_the_browser_their_limit(client_of, approver, passing_run):
    from core import text

    html = client_of(approver).get(url()).content.decode()
    assert f'maxlength="{text.COMMENT}"' in html  # the approval's comment


def test_a_tick_answers_with_the_item_and_what_it_changed(client_of, deployer, manual_item):
    response = client_of(deployer).post(
        url(action=f"checks/{manual_item.pk}/tick"), {"ticked": "1"}, **HX
    )
    html = response.content.decode()
    assert html.startswith(f'\n      <li id="item-{manual_item.pk}" tabindex="-1" data-focus>')
    assert '<p class="notice success" role="status">MAN-001 ticked.</p>' in html
    assert 'id="decision" tabindex="-1" aria-labelledby="decision-title" hx-swap-oob="true"' in html
    assert f'id="check-{manual_item.pk}" hx-swap-oob="true"' in html
    assert 'id="checklists"' not in html  # only the item, not the whole list


def test_no_score_is_shown_while_a_run_is_going(client_of, viewer, release, environments):
    run = RunFactory(release=release, environment=environments["production"], status="queued")
    check = CheckFactory(project=release.project, code="Q-001", severity="critical")
    ResultFactory(run=run, check_item=check, status="pass")
    html = client_of(viewer).get(url()).content.decode()
    assert (
        '<text x="60" y="62" text-anchor="middle" font-size="15" font-weight="700" id="score-value">running…</text>'
        in html
    )
    assert 'class="gauge running"' in html
