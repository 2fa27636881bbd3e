"""The operators' commands, run the way an operator runs them."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from checks.models import Check, ReadinessRun
from releases.models import ApiToken, Deployment, Membership, Project, Release
from releases.services.tokens import token_authenticate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_member_creates_the_user_with_a_role(project) -> None:
    out = run(
        "create_member",
        "rita",
        "--project",
        "shop",
        "--role",
        "approver",
        "--password",
        "s3cret-pass!",
    )
    assert out.startswith("Created rita: approver in shop.")
    membership = Membership.objects.get(project=project, user__username="rita")
    assert membership.role == "approver"
    assert membership.user.check_password("s3cret-pass!")
    assert AuditEvent.objects.filter(action="membership.set", after__user="rita").exists()


def test_create_member_changes_a_role(project) -> None:
    run("create_member", "rita", "--project", "shop", "--role", "viewer")
    out = run("create_member", "rita", "--project", "shop", "--role", "admin")
    assert out.startswith("Updated rita: admin in shop.")
    assert Membership.objects.get(user__username="rita").role == "admin"


def test_create_member_names_the_known_projects(project) -> None:
    with pytest.raises(CommandError, match=r"No project 'nope' \(known projects: shop\)"):
        run("create_member", "rita", "--project", "nope", "--role", "viewer")


def test_issue_token_prints_only_the_token_and_stores_its_hash(approver) -> None:
    out = run("issue_token", "--user", approver.username)
    raw = out.strip()
    assert out.count("\n") == 1
    assert raw.startswith("pf_")
    token = token_authenticate(raw)
    assert token is not None
    assert token.user == approver
    assert not ApiToken.objects.filter(key_hash=raw).exists()
    assert raw not in str(list(AuditEvent.objects.values_list("before", "after", "message")))


def test_issue_token_for_a_service_needs_its_project(project) -> None:
    with pytest.raises(CommandError, match="--service needs --project"):
        run("issue_token", "--service", "github-actions")
    raw = run("issue_token", "--service", "github-actions", "--project", "shop").strip()
    token = token_authenticate(raw)
    assert token is not None
    assert token.project == project
    assert token.user is None


def test_revoke_token_stops_it_working(approver) -> None:
    raw = run("issue_token", "--user", approver.username).strip()
    token = ApiToken.objects.get()
    run("revoke_token", token.prefix)
    assert token_authenticate(raw) is None


def test_load_demo_is_idempotent() -> None:
    run("load_demo", "--password", "preflight-demo")
    counts = [
        m.objects.count() for m in (Project, Release, Check, ReadinessRun, Deployment, Membership)
    ]
    run("load_demo", "--password", "preflight-demo")
    again = [
        m.objects.count() for m in (Project, Release, Check, ReadinessRun, Deployment, Membership)
    ]
    assert counts == again
    assert Project.objects.filter(slug="liquor-pos").exists()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue()


def test_a_command_on_a_database_not_set_up_says_what_to_do(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "issue_token", "--user", "ana"],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "preflight.settings.local",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        },
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "not set up yet" in done.stderr
    assert "make run" in done.stderr
    assert "Traceback" not in done.stderr
