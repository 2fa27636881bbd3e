"""One test (or a few) per row of PRODUCT.md's REST API table: paths, fields, status codes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import record
from backups.models import Backup, Database
from checks.models import ReadinessRun, ReportedResult
from releases.models import Approval, Deployment, Lock, Release

from ..factories import CheckFactory, DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1"
R = f"{BASE}/projects/shop/releases"


# POST projects/{project}/releases/


def test_registering_a_release_answers_201_with_it(ci, project):
    answer = ci.post(
        f"{R}/", {"version": "2.0.0", "git_sha": "ABCDEF1", "notes": "n"}, format="json"
    )
    assert answer.status_code == 201
    assert answer.json() == {
        "project": "shop",
        "version": "2.0.0",
        "git_sha": "abcdef1",
        "notes": "n",
        "created_by": None,
        "created_at": answer.json()["created_at"],
    }
    assert Release.objects.filter(project=project, version="2.0.0").exists()


def test_the_same_version_and_commit_again_answers_200_with_the_same_release(ci, project):
    body = {"version": "2.0.0", "git_sha": "abcdef1"}
    first = ci.post(f"{R}/", body, format="json")
    again = ci.post(f"{R}/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Release.objects.filter(version="2.0.0").count() == 1


def test_the_same_version_with_another_commit_is_409(ci, project):
    ci.post(f"{R}/", {"version": "2.0.0", "git_sha": "abcdef1"}, format="json")
    answer = ci.post(f"{R}/", {"version": "2.0.0", "git_sha": "1234567"}, format="json")
    assert answer.status_code == 409
    assert answer.json()["code"] == "version_conflict"
    assert answer.json()["existing_git_sha"] == "abcdef1"


def test_a_release_with_a_bad_version_is_400_per_field(ci, project):
    answer = ci.post(f"{R}/", {"version": "no spaces", "git_sha": "xyz"}, format="json")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"version", "git_sha"}
    assert not Release.objects.exists()


# GET projects/{project}/releases/{version}/


def test_a_release_reads_with_its_state_per_environment(
    as_user, viewer, release, environments, passing_run
):
    DeploymentFactory(release=release, environment=environments["development"], status="verified")
    answer = as_user(viewer).get(f"{R}/1.0.0/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == "1.0.0"
    assert body["created_by"] == "dana"
    states = {e["environment"]: e for e in body["environments"]}
    assert list(states) == ["development", "staging", "production"]
    assert states["development"]["latest_deployment"]["status"] == "verified"
    assert states["staging"]["latest_deployment"] is None
    assert states["production"]["latest_run"]["id"] == passing_run["production"].pk
    assert states["production"]["latest_run"]["score"] == 100.0


def test_an_unknown_version_is_404(as_user, viewer, project):
    answer = as_user(viewer).get(f"{R}/9.9.9/")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


# POST .../runs/


def test_starting_a_run_answers_202_queued(ci, release, environments, ci_check):
    answer = ci.post(f"{R}/1.0.0/runs/", {"environment": "staging"}, format="json")
    assert answer.status_code == 202
    run = ReadinessRun.objects.get()
    assert answer.json() == {"id": run.pk, "status": "queued"}
    assert run.results.count() == 1


def test_a_run_for_an_unknown_environment_is_404_naming_the_field(ci, release, environments):
    answer = ci.post(f"{R}/1.0.0/runs/", {"environment": "moon"}, format="json")
    assert answer.status_code == 404
    assert "environment" in answer.json()["fields"]
    assert not ReadinessRun.objects.exists()


# GET runs/{id}/


def test_a_run_reads_with_score_categories_risk_summary_and_results(as_user, viewer, passing_run):
    run = passing_run["staging"]
    answer = as_user(viewer).get(f"{BASE}/runs/{run.pk}/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == run.pk
    assert body["status"] == "finished"
    assert body["score"] == 100.0
    assert body["categories"] == [{"key": "all", "name": "All", "weight": 100, "score": 100.0}]
    assert body["risk_summary"][-1] == {
        "category": "TOTAL",
        "critical": 0,
        "high": 0,
        "medium": 0,
        "low": 0,
        "total": 0,
    }
    assert body["results"] == [
        {
            "check": "OK-001",
            "title": "Check OK-001",
            "category": "all",
            "severity": "medium",
            "status": "pass",
            "detail": "",
            "source": {"kind": "worker", "user": None, "token": None, "attested_by": None},
        }
    ]


def test_a_run_reads_its_risk_summary_by_section_with_pending_and_waived(
    as_user, viewer, approver, release, environments, project
):
    from checks.models import Check, Waiver

    from ..factories import CategoryFactory, ResultFactory, RunFactory

    category = CategoryFactory(project=project, key="ops", name="Ops", weight=100)
    run = RunFactory(release=release, environment=environments["staging"])
    for code, section, severity, status in (
        ("R-001", "Rollback", "high", "fail"),
        ("R-002", "Rollback", "medium", "pending"),
        ("B-001", "", "low", "fail"),
        ("B-002", "", "medium", "pass"),
    ):
        check = CheckFactory(
            project=project, category=category, code=code, section=section, severity=severity
        )
        ResultFactory(run=run, check_item=check, status=status)
    Waiver.objects.create(
        release=release, check_item=Check.objects.get(code="B-001"), reason="accepted",
        created_by=approver, expires_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    body = as_user(viewer).get(f"{BASE}/runs/{run.pk}/").json()
    assert body["risk_summary_sections"] == [
        {"section": "Ops", "critical": 0, "high": 0, "medium": 0, "low": 0, "total": 0,
         "pending": 0, "waived": 1},
        {"section": "Rollback", "critical": 0, "high": 1, "medium": 1, "low": 0, "total": 2,
         "pending": 1, "waived": 0},
        {"section": "TOTAL", "critical": 0, "high": 1, "medium": 1, "low": 0, "total": 2,
         "pending": 1, "waived": 1},
    ]  # fmt: skip
    assert body["risk_summary"][-1]["category"] == "TOTAL"  # unchanged for existing clients


def test_an_unknown_run_is_404(as_user, viewer):
    assert as_user(viewer).get(f"{BASE}/runs/999999/").status_code == 404


# GET .../gate/?environment=


def test_the_gate_answers_open_with_its_fields(as_user, viewer, open_dev):
    answer = as_user(viewer).get(f"{R}/1.0.0/gate/", {"environment": "development"})
    assert answer.status_code == 200
    assert answer.json() == {
        "allowed": True,
        "score": 100.0,
        "min_score": 50.0,
        "blockers": [],
        "approvals": {"required": 0, "granted": 0, "rejected": 0},
        "reasons": [],
    }


def test_the_gate_answers_closed_with_every_reason(as_user, viewer, release, environments):
    answer = as_user(viewer).get(f"{R}/1.0.0/gate/", {"environment": "production"})
    body = answer.json()
    assert answer.status_code == 200
    assert body["allowed"] is False
    assert body["score"] is None
    assert [r["code"] for r in body["reasons"]] == [
        "no_run",
        "approvals_missing",
        "previous_environment",
    ]
    assert body["approvals"] == {"required": 2, "granted": 0, "rejected": 0}


def test_the_gate_needs_an_environment(as_user, viewer, release):
    answer = as_user(viewer).get(f"{R}/1.0.0/gate/")
    assert answer.status_code == 400
    assert answer.json()["fields"] == {"environment": ["This field is required."]}


# POST .../approvals/


def test_an_approver_approves_201(as_user, approver, release, passing_run):
    answer = as_user(approver).post(
        f"{R}/1.0.0/approvals/", {"environment": "production", "decision": "approve"}, format="json"
    )
    assert answer.status_code == 201
    body = answer.json()
    assert (body["decision"], body["approver"], body["environment"]) == (
        "approve",
        "ana",
        "production",
    )
    assert body["run"] == passing_run["production"].pk


@pytest.mark.parametrize("who", ["ci", "deployer_creator", "viewer"])
def test_service_tokens_non_approvers_and_the_creator_get_403(
    who, request, as_user, release, passing_run, deployer, viewer, admin, ci
):
    if who == "ci":
        client = ci
    elif who == "deployer_creator":
        # The creator is refused even as an admin of the project.
        release.created_by = admin
        release.save()
        client = as_user(admin)
    else:
        client = as_user(viewer)
    answer = client.post(
        f"{R}/1.0.0/approvals/", {"environment": "production", "decision": "approve"}, format="json"
    )
    assert answer.status_code == 403
    assert not Approval.objects.exists()


def test_a_rejection_without_a_comment_is_400(as_user, approver, release, passing_run):
    answer = as_user(approver).post(
        f"{R}/1.0.0/approvals/", {"environment": "production", "decision": "reject"}, format="json"
    )
    assert answer.status_code == 400
    assert "comment" in answer.json()["fields"]


# POST projects/{project}/check-results/


def test_ci_reports_a_check_result_201(ci, release, environments, ci_check):
    answer = ci.post(
        f"{BASE}/projects/shop/check-results/",
        {
            "version": "1.0.0",
            "environment": "staging",
            "check": "CI-001",
            "status": "pass",
            "detail": "412 tests",
            "url": "https://ci.example.com/1",
        },
        format="json",
    )
    assert answer.status_code == 201
    assert answer.json()["check"] == "CI-001"
    assert ReportedResult.objects.get().status == "pass"


def test_reporting_a_check_that_is_not_ci_is_400(ci, project, release, environments, ci_check):
    CheckFactory(project=project, category=ci_check.category, code="MAN-001", kind="manual")
    answer = ci.post(
        f"{BASE}/projects/shop/check-results/",
        {"version": "1.0.0", "environment": "staging", "check": "MAN-001", "status": "pass"},
        format="json",
    )
    assert answer.status_code == 400
    assert "check" in answer.json()["fields"]


def test_reporting_an_unknown_check_is_404(ci, release, environments):
    answer = ci.post(
        f"{BASE}/projects/shop/check-results/",
        {"version": "1.0.0", "environment": "staging", "check": "NOPE-1", "status": "pass"},
        format="json",
    )
    assert answer.status_code == 404
    assert "check" in answer.json()["fields"]


# POST projects/{project}/deployments/


def test_a_deployment_starts_201_in_progress(ci, open_dev):
    answer = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development", "strategy": "canary"},
        format="json",
    )
    assert answer.status_code == 201
    body = answer.json()
    assert (body["status"], body["strategy"]) == ("in_progress", "canary")
    assert body["id"] == Deployment.objects.get().pk


def test_a_second_deployment_is_409_environment_busy_naming_the_holder(ci, open_dev):
    url, body = (
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
    )
    first = ci.post(url, body, format="json").json()
    answer = ci.post(url, body, format="json")
    assert answer.status_code == 409
    assert answer.json()["code"] == "environment_busy"
    assert answer.json()["holder"] == f"deployment #{first['id']}"


def test_a_locked_environment_is_409(ci, open_dev, admin):
    Lock.objects.create(environment=open_dev, reason="db maintenance", owner_label="root")
    answer = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
        format="json",
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "environment_busy"
    assert answer.json()["holder"] == "root"


def test_a_closed_gate_is_412_with_reasons(ci, release, environments, passing_run):
    answer = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "production"},
        format="json",
    )
    assert answer.status_code == 412
    body = answer.json()
    assert body["code"] == "gate_closed"
    assert [r["code"] for r in body["reasons"]] == ["approvals_missing", "previous_environment"]
    assert not Deployment.objects.exists()


def test_an_admin_breaks_glass_with_a_reason(as_user, admin, release, environments, passing_run):
    answer = as_user(admin).post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "production", "override_reason": "outage fix"},
        format="json",
    )
    assert answer.status_code == 201
    assert answer.json()["override"] is True
    assert AuditEvent.objects.filter(action="deployment.override").exists()


@pytest.mark.parametrize("who", ["ci", "deployer", "approver"])
def test_nobody_but_an_admin_breaks_glass(
    who, request, as_user, release, environments, passing_run, ci
):
    client = ci if who == "ci" else as_user(request.getfixturevalue(who))
    answer = client.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "production", "override_reason": "trust me"},
        format="json",
    )
    assert answer.status_code == 403
    assert not Deployment.objects.exists()


# POST deployments/{id}/finish/


def test_finishing_a_deployment_answers_200(ci, open_dev):
    started = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
        format="json",
    ).json()
    answer = ci.post(
        f"{BASE}/deployments/{started['id']}/finish/", {"status": "succeeded"}, format="json"
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "succeeded"


def test_finishing_with_another_status_is_400(ci, open_dev):
    started = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
        format="json",
    ).json()
    answer = ci.post(
        f"{BASE}/deployments/{started['id']}/finish/", {"status": "verified"}, format="json"
    )
    assert answer.status_code == 400
    assert "status" in answer.json()["fields"]


def test_finishing_the_other_way_after_it_ended_is_409(ci, open_dev):
    started = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
        format="json",
    ).json()
    url = f"{BASE}/deployments/{started['id']}/finish/"
    ci.post(url, {"status": "failed"}, format="json")
    answer = ci.post(url, {"status": "succeeded"}, format="json")
    assert answer.status_code == 409
    assert answer.json()["code"] == "invalid_transition"


# POST deployments/{id}/rollback/


def test_a_rollback_answers_201_with_a_deployment_of_the_last_good_release(ci, project, open_dev):
    good = ReleaseFactory(project=project, version="0.9.0")
    DeploymentFactory(
        release=good,
        environment=open_dev,
        status="verified",
        started_at=timezone.now() - timedelta(days=1),
    )
    started = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
        format="json",
    ).json()
    answer = ci.post(
        f"{BASE}/deployments/{started['id']}/rollback/", {"reason": "errors up"}, format="json"
    )
    assert answer.status_code == 201
    body = answer.json()
    assert (body["version"], body["rollback_of"], body["status"]) == (
        "0.9.0",
        started["id"],
        "in_progress",
    )
    assert Lock.objects.active().filter(environment=open_dev).exists()


def test_a_rollback_needs_a_reason(ci, open_dev):
    started = ci.post(
        f"{BASE}/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "development"},
        format="json",
    ).json()
    answer = ci.post(f"{BASE}/deployments/{started['id']}/rollback/", {}, format="json")
    assert answer.status_code == 400
    assert answer.json()["fields"] == {"reason": ["This field is required."]}


# POST projects/{project}/backups/


def test_a_backup_report_answers_201(ci, project):
    Database.objects.create(project=project, name="pos")
    now = timezone.now()
    answer = ci.post(
        f"{BASE}/projects/shop/backups/",
        {
            "database": "pos",
            "kind": "full",
            "started_at": (now - timedelta(minutes=5)).isoformat(),
            "finished_at": now.isoformat(),
            "size_bytes": 1024,
            "sha256": "a" * 64,
            "location": "s3://backups/pos/1",
            "encrypted": True,
        },
        format="json",
    )
    assert answer.status_code == 201
    body = answer.json()
    assert (body["database"], body["size_bytes"], body["encrypted"], body["verified"]) == (
        "pos",
        1024,
        True,
        False,
    )
    assert Backup.objects.count() == 1


def test_a_backup_that_finishes_before_it_starts_is_400(ci, project):
    Database.objects.create(project=project, name="pos")
    now = timezone.now()
    answer = ci.post(
        f"{BASE}/projects/shop/backups/",
        {
            "database": "pos",
            "started_at": now.isoformat(),
            "finished_at": (now - timedelta(hours=1)).isoformat(),
        },
        format="json",
    )
    assert answer.status_code == 400
    assert "finished_at" in answer.json()["fields"]
    assert not Backup.objects.exists()


def test_a_backup_of_an_unknown_database_is_404(ci, project):
    answer = ci.post(
        f"{BASE}/projects/shop/backups/",
        {"database": "nope", "started_at": timezone.now().isoformat()},
        format="json",
    )
    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_database"


# GET projects/{project}/audit-events/


def test_audit_events_page_newest_first_with_a_cursor(as_user, viewer, ci, project):
    for n in range(5):
        ci.post(f"{R}/", {"version": f"3.0.{n}", "git_sha": "abcdef1"}, format="json")
    client = as_user(viewer)
    first = client.get(
        f"{BASE}/projects/shop/audit-events/", {"limit": 3, "action": "release.created"}
    )
    assert first.status_code == 200
    page = first.json()
    seqs = [e["seq"] for e in page["results"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == 3
    second = client.get(page["next"]).json()
    assert [e["after"]["version"] for e in second["results"]] == ["3.0.1", "3.0.0"]
    assert second["next"] is None


def test_audit_events_filter_by_outcome(as_user, viewer, ci, project):
    ci.post(f"{R}/", {"version": "3.0.0", "git_sha": "abcdef1"}, format="json")
    ci.post(f"{R}/", {"version": "3.0.0", "git_sha": "1234567"}, format="json")  # refused
    answer = as_user(viewer).get(f"{BASE}/projects/shop/audit-events/", {"outcome": "failure"})
    assert [e["action"] for e in answer.json()["results"]] == ["release.created"]
    assert AuditEvent.objects.filter(project_id=project.pk).count() >= 2


def test_audit_events_of_another_project_are_not_listed(as_user, viewer, project):
    # The chain is shared by every project; the listing shows one project's events.
    record(actor=Actor.of_system("x"), action="elsewhere", project_id=project.pk + 1000)
    answer = as_user(viewer).get(f"{BASE}/projects/shop/audit-events/", {"action": "elsewhere"})
    assert answer.json()["results"] == []


def test_bad_audit_filters_are_400(as_user, viewer, project):
    answer = as_user(viewer).get(f"{BASE}/projects/shop/audit-events/", {"since": "yesterday"})
    assert answer.status_code == 400
    assert "since" in answer.json()["fields"]


def test_scores_are_numbers(as_user, viewer, passing_run):
    body = as_user(viewer).get(f"{BASE}/runs/{passing_run['development'].pk}/").json()
    assert isinstance(body["score"], float)
    assert Decimal(str(body["score"])) == Decimal(100)
