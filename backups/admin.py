"""Databases are configured here (every change audited), except their schedules, which project
admins change on the backups page (backups.services.schedules); backups, drills, WAL samples and
alert states are records, read-only: they change only through the backup services."""

from __future__ import annotations

from django.contrib import admin

from releases.admin import AuditedAdmin, ReadOnlyAdmin

from .models import Alert, Backup, Database, RestoreDrill, WalSample


@admin.register(Database)
class DatabaseAdmin(AuditedAdmin):
    list_display = (
        "__str__",
        "dsn_env",
        "retention_days",
        "size_limit_bytes",
        "max_backup_age",
        "max_drill_age",
    )
    list_filter = ("project",)
    # One way to change a schedule, with the project-admin rule: the schedule page.
    readonly_fields = ("backup_schedule", "drill_schedule", "wal_schedule")


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "source", "status", "size_bytes", "verified", "deleted_at")
    list_filter = ("source", "status", "verified")


@admin.register(RestoreDrill)
class RestoreDrillAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "backup", "restore_seconds", "data_age_seconds", "finished_at")
    list_filter = ("status",)


@admin.register(WalSample)
class WalSampleAdmin(ReadOnlyAdmin):
    list_display = ("database", "taken_at", "state", "archived_count", "failed_count")
    list_filter = ("state",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("database", "condition", "active", "raised_at", "cleared_at")
    list_filter = ("condition", "active")
