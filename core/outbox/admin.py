from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """What waits for the broker (``sent_at`` empty) and why (``last_error``): read only, the
    relay and the worker's sweep are what change these rows."""

    list_display = (
        "id",
        "task",
        "args",
        "created_at",
        "sent_at",
        "done_at",
        "attempts",
        "last_error",
    )
    list_filter = ("task",)
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
