"""The Django admin: every model has a page; the audit log is read-only there."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from releases.models import Environment

pytestmark = pytest.mark.django_db

APPS = {"audit", "releases", "checks", "backups", "beat"}


@pytest.fixture
def staff_client(client, django_user_model):
    call_command("load_demo", "--password", "preflight-demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(root)
    return client


def test_every_model_of_preflight_is_registered() -> None:
    from django.apps import apps

    registered = set(admin.site._registry)
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            assert model in registered, f"{model.__name__} has no admin page"


def test_every_changelist_and_detail_page_renders(staff_client) -> None:
    # One test for all pages: loading the demo is the slow part, and it is needed once.
    for model in [m for m in admin.site._registry if m._meta.app_label in APPS]:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert staff_client.get(url).status_code == 200, url
        first = model.objects.first()
        if first is not None:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert staff_client.get(url).status_code == 200, url


def test_audit_events_cannot_be_added_changed_or_deleted(staff_client) -> None:
    event = AuditEvent.objects.first()
    assert staff_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    url = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert staff_client.post(url, {"action": "forged"}).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def test_a_change_in_the_admin_is_audited(staff_client) -> None:
    environment = Environment.objects.get(project__slug="liquor-pos", slug="staging")
    url = reverse("admin:releases_environment_change", args=[environment.pk])
    page = staff_client.get(url)
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"min_score": "75", "project": environment.project_id})
    data["deploy_timeout"] = "01:00:00"
    data["approval_ttl"] = data.get("approval_ttl") or ""
    before = AuditEvent.objects.count()
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    environment.refresh_from_db()
    assert environment.min_score == 75
    event = AuditEvent.objects.order_by("-seq").first()
    assert AuditEvent.objects.count() == before + 1
    assert event.actor == "root"
    assert event.after["min_score"] == "75"
