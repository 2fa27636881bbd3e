"""Beat's memory, for operators to read: it changes only when beat sends a task."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import EntryState


@admin.register(EntryState)
class EntryStateAdmin(admin.ModelAdmin):
    list_display = ("name", "last_run_at", "total_run_count")
    search_fields = ("name",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
