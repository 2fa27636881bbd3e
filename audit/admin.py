from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent, ChainVerification


class RecordAdmin(admin.ModelAdmin):
    """Read-only: records of what happened change in the admin no more than anywhere else."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(RecordAdmin):
    """The audit trail is append-only, in the admin as everywhere else."""

    list_display = ("seq", "occurred_at", "actor", "action", "object_repr", "outcome", "ip")
    list_filter = ("outcome", "action")
    search_fields = ("actor", "action", "object_repr", "request_id", "message")
    date_hierarchy = "occurred_at"
    ordering = ("-seq",)
    show_full_result_count = False  # counting a million rows on every page view is not free


@admin.register(ChainVerification)
class ChainVerificationAdmin(RecordAdmin):
    """What each periodic verification of the chain found."""

    list_display = ("verified_at", "head_seq", "checked", "ok", "anchored_seq")
    ordering = ("-verified_at",)
