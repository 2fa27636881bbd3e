"""Django admin for operators. Configuration (projects, members, environments) is editable here and
every change is audited; the records of what happened (releases, approvals, deployments) are
read-only, because they may only change through the services that enforce the rules."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from audit import services as audit
from audit.actors import Actor

from .models import (
    ApiToken,
    Approval,
    Deployment,
    Environment,
    FreezeWindow,
    IdempotencyKey,
    Lock,
    Membership,
    Project,
    Release,
    Webhook,
    WebhookDelivery,
)
from .services.tokens import token_revoke
from .services.webhooks import webhook_rotate_secret, webhook_secrets_reveal
from .webhooks import redeliver, rotation_overlap, signing_secret


class AuditedAdmin(admin.ModelAdmin):
    """Records every add, change and delete made in the admin as an audit event, in the admin's
    own transaction."""

    def _project_id(self, obj: Any) -> int | None:
        if isinstance(obj, Project):
            return obj.pk
        return getattr(obj, "project_id", None) or getattr(
            getattr(obj, "environment", None), "project_id", None
        )

    def _values(self, obj: Any) -> dict[str, Any]:
        return {
            f.name: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name != "id"
        }

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        before = None
        if change:
            before = {k: v for k, v in form.initial.items() if k in form.changed_data}
        super().save_model(request, obj, form, change)
        after = {k: v for k, v in self._values(obj).items() if not change or k in form.changed_data}
        audit.record(
            actor=Actor.of_user(request.user),
            action=f"admin.{obj._meta.model_name}.{'changed' if change else 'added'}",
            obj=obj,
            project_id=self._project_id(obj),
            before=before,
            after=after,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record(
            actor=Actor.of_user(request.user),
            action=f"admin.{obj._meta.model_name}.deleted",
            obj=obj,
            project_id=self._project_id(obj),
            before=self._values(obj),
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class EnvironmentInline(admin.TabularInline):
    model = Environment
    extra = 0
    fields = ["position", "slug", "name", "min_score", "required_approvals", "requires_previous"]


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    inlines = [EnvironmentInline, MembershipInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            self.delete_model(request, obj)
        for obj in instances:
            existed = obj.pk is not None
            obj.save()
            audit.record(
                actor=Actor.of_user(request.user),
                action=f"admin.{obj._meta.model_name}.{'changed' if existed else 'added'}",
                obj=obj,
                project_id=self._project_id(obj),
                after=self._values(obj),
            )
        formset.save_m2m()


@admin.register(Environment)
class EnvironmentAdmin(AuditedAdmin):
    list_display = (
        "project",
        "position",
        "slug",
        "min_score",
        "required_approvals",
        "requires_previous",
        "auto_rollback",
    )
    list_filter = ("project",)
    ordering = ("project", "position")


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ("project", "user", "role")
    list_filter = ("project", "role")
    autocomplete_fields = ["user"]


@admin.register(FreezeWindow)
class FreezeWindowAdmin(AuditedAdmin):
    list_display = ("environment", "starts_at", "ends_at", "reason")
    list_filter = ("environment__project",)


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ("project", "version", "git_sha", "created_by", "created_at")
    list_filter = ("project",)
    search_fields = ("version", "git_sha")


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("release", "environment", "approver", "decision", "created_at")
    list_filter = ("decision", "environment__project")


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "release",
        "environment",
        "strategy",
        "status",
        "rollback_of",
        "recorded_after_the_fact",
        "started_at",
        "finished_at",
    )
    list_filter = (
        "status",
        "recorded_after_the_fact",
        "environment__project",
        "environment__slug",
    )


@admin.register(Lock)
class LockAdmin(ReadOnlyAdmin):
    list_display = (
        "environment",
        "owner_label",
        "reason",
        "created_at",
        "expires_at",
        "released_at",
    )
    list_filter = ("environment__project",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are issued with ``manage.py issue_token`` (the token is printed once and never
    stored); here they can be inspected and revoked."""

    list_display = (
        "name",
        "prefix",
        "user",
        "project",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("project",)
    search_fields = ("name", "prefix")
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token_revoke(actor=Actor.of_user(request.user), token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


@admin.register(Webhook)
class WebhookAdmin(AuditedAdmin):
    """The signing secrets are derived, never stored (``releases.webhooks.secret_for``). The
    current one is shown once when the webhook is added or its secret rotated; the action
    *Show the current signing secrets* shows them again, and each showing is audited. They
    appear in that one answer only, never on the change page or in a message."""

    list_display = (
        "name",
        "project",
        "url",
        "slack_format",
        "is_active",
        "key_version",
        "rotated_at",
        "created_at",
    )
    list_filter = ("project", "is_active")
    search_fields = ("name", "url")
    readonly_fields = ("key_version", "rotated_at", "deliveries")
    actions = ["rotate_secret", "show_secrets"]

    # Secrets are rendered into the answer itself, never put in a message: messages live in
    # the session, which is a database row.
    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        return self._secrets_page(
            request,
            "The new webhook's signing secret.",
            [(obj, [(signing_secret(obj), "from now on")])],
        )

    @admin.action(description="Rotate the signing secret (the old one stays valid for a while)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> Any:
        hours = rotation_overlap().total_seconds() / 3600
        rows = []
        for webhook in queryset:
            rotated, secret = webhook_rotate_secret(
                actor=Actor.of_user(request.user), webhook=webhook
            )
            rows.append((rotated, [(secret, "from now on")]))
        return self._secrets_page(
            request,
            f"The new signing secrets. Deliveries are signed with the old secret too for "
            f"{hours:g} hours, so each receiver can switch in that time.",
            rows,
        )

    @admin.action(description="Show the current signing secrets")
    def show_secrets(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> Any:
        rows = []
        for webhook in queryset:
            secrets = webhook_secrets_reveal(actor=Actor.of_user(request.user), webhook=webhook)
            notes = ["now (the current secret)"] + [
                f"until {webhook.rotated_at + rotation_overlap():%Y-%m-%d %H:%M} UTC (the previous)"
                for _ in secrets[1:]
                if webhook.rotated_at
            ]
            rows.append((webhook, list(zip(secrets, notes, strict=True))))
        return self._secrets_page(request, "The secrets signing these webhooks' deliveries.", rows)

    def _secrets_page(
        self, request: HttpRequest, intro: str, rows: list[tuple[Webhook, list[tuple[str, str]]]]
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "intro": intro,
            "rows": [
                {"webhook": w, "secrets": [{"value": v, "note": n} for v, n in secrets]}
                for w, secrets in rows
            ],
        }
        response = TemplateResponse(request, "admin/releases/webhook/secrets.html", context)
        add_never_cache_headers(response)
        return response

    @admin.display(description="Delivery log")
    def deliveries(self, obj: Webhook) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:releases_webhookdelivery_changelist") + f"?webhook__id__exact={obj.pk}"
        return format_html('<a href="{}">Deliveries of this webhook</a>', url)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: what was sent where, how it was answered, and redelivery by hand."""

    list_display = (
        "id",
        "created_at",
        "webhook",
        "event",
        "status",
        "attempts",
        "response_status",
        "error",
        "delivered_at",
    )
    list_filter = ("status", "event", "webhook__project", "webhook")
    list_select_related = ("webhook",)
    search_fields = ("event", "error")
    actions = ["redeliver_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the action (for those Django lets change deliveries); fields stay read-only.
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="Redeliver the selected deliveries")
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("webhook"):
            redeliver(delivery)
            audit.record(
                actor=Actor.of_user(request.user),
                action="webhook.redelivered",
                obj=delivery,
                project_id=delivery.webhook.project_id,
                after={"event": delivery.event, "webhook": delivery.webhook.name},
            )
            count += 1
        self.message_user(request, f"Queued {count} delivery(ies) again.", messages.SUCCESS)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    """Final answers the API keeps for replayed POSTs; purged by beat after their keep time."""

    list_display = ("key", "principal", "method", "path", "response_status", "created_at")
    list_filter = ("response_status", "method")
    search_fields = ("key", "path")
    date_hierarchy = "created_at"
