"""Admin for backups. Databases are configuration (editable, audited); backups, drills and WAL
samples are records and only change through the services."""

from __future__ import annotations

from django.contrib import admin

from releases.admin import AuditedAdmin, ReadOnlyAdmin

from .models import Backup, Database, RestoreDrill, WalSample


@admin.register(Database)
class DatabaseAdmin(AuditedAdmin):
    list_display = (
        "name",
        "project",
        "dsn_env",
        "retention_days",
        "max_backup_age",
        "max_drill_age",
    )
    list_filter = ("project",)


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = (
        "database",
        "kind",
        "source",
        "status",
        "started_at",
        "size_bytes",
        "verified",
        "deleted_at",
    )
    list_filter = ("status", "source", "verified", "database")
    list_select_related = ("database__project",)


@admin.register(RestoreDrill)
class RestoreDrillAdmin(ReadOnlyAdmin):
    list_display = ("id", "database", "status", "restore_seconds", "data_age_seconds", "created_at")
    list_filter = ("status", "database")
    list_select_related = ("database__project",)


@admin.register(WalSample)
class WalSampleAdmin(ReadOnlyAdmin):
    list_display = ("database", "taken_at", "state", "archived_count", "failed_count")
    list_filter = ("state", "database")
    list_select_related = ("database__project",)
