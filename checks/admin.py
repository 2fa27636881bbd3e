"""Admin for the readiness catalog. Categories and checks are configuration (editable, audited;
`manage.py catalog import` is the usual way in); runs, results, waivers, ticks and reports are
records of what happened and only change through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from releases.admin import AuditedAdmin, ReadOnlyAdmin

from .models import (
    Attestation,
    Category,
    Check,
    CheckResult,
    GateState,
    ManualTick,
    MigrationRehearsal,
    ReadinessRun,
    ReportedResult,
    ReviewBaseline,
    Waiver,
)


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ("project", "position", "key", "name", "weight")
    list_filter = ("project",)
    ordering = ("project", "position")


@admin.register(Check)
class CheckAdmin(AuditedAdmin):
    list_display = (
        "code",
        "title",
        "project",
        "category",
        "severity",
        "kind",
        "phase",
        "is_active",
    )
    list_filter = ("project", "severity", "kind", "phase", "is_active")
    search_fields = ("code", "title")
    list_select_related = ("project", "category")
    filter_horizontal = ("environments",)


class ResultInline(admin.TabularInline):
    model = CheckResult
    fields = (
        "check_item",
        "severity",
        "status",
        "source",
        "source_user",
        "source_token",
        "attested_by",
        "detail",
        "duration_ms",
        "evaluated_at",
    )
    readonly_fields = fields
    can_delete = False
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReadinessRun)
class ReadinessRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "release", "environment", "kind", "status", "score", "created_at")
    list_filter = ("status", "kind", "environment__project")
    list_select_related = ("release__project", "environment")
    inlines = [ResultInline]


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ("check_item", "run", "severity", "status", "source", "evaluated_at")
    list_filter = ("status", "severity", "source")
    list_select_related = ("check_item", "run")


@admin.register(ReportedResult)
class ReportedResultAdmin(ReadOnlyAdmin):
    list_display = (
        "check_item",
        "release",
        "environment",
        "status",
        "reported_by_label",
        "token",
        "created_at",
    )
    list_select_related = ("check_item", "release", "environment", "token")


@admin.register(Waiver)
class WaiverAdmin(ReadOnlyAdmin):
    list_display = ("check_item", "release", "created_by", "expires_at", "revoked_at")
    list_select_related = ("check_item", "release", "created_by")


@admin.register(ManualTick)
class ManualTickAdmin(ReadOnlyAdmin):
    list_display = ("check_item", "release", "environment", "ticked", "ticked_by", "created_at")
    list_select_related = ("check_item", "release", "environment", "ticked_by")


@admin.register(Attestation)
class AttestationAdmin(ReadOnlyAdmin):
    list_display = ("tick", "attested_by", "created_at", "withdrawn_at", "withdrawn_by")
    list_select_related = (
        "tick__check_item",
        "tick__release",
        "tick__environment",
        "attested_by",
        "withdrawn_by",
    )


@admin.register(GateState)
class GateStateAdmin(ReadOnlyAdmin):
    pass


@admin.register(ReviewBaseline)
class ReviewBaselineAdmin(ReadOnlyAdmin):
    """The hand-written review's figures come in with the catalog (`review:`), like the checks."""

    list_display = ("project", "date", "score", "title")
    list_select_related = ("project",)


@admin.register(MigrationRehearsal)
class MigrationRehearsalAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "database", "status", "backup", "total_seconds", "started_at")
    list_filter = ("status", "database__project")
    list_select_related = ("run__release", "run__environment", "database__project", "backup")
