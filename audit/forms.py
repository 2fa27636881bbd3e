"""The audit log's filters, read from the query string (a filtered log is a URL)."""

from __future__ import annotations

from django import forms

from core.web.forms import DateRangeForm

from .log import AuditFilters
from .models import AuditEvent


class AuditFilterForm(DateRangeForm):
    actor = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. ana"}),
    )
    action = forms.CharField(
        required=False,
        max_length=100,
        # A prefix ending in a dot matches every action under it (audit.log.action_matches).
        widget=forms.TextInput(attrs={"placeholder": "e.g. deployment."}),
    )
    object = forms.CharField(
        required=False,
        max_length=201,
        widget=forms.TextInput(attrs={"placeholder": "e.g. releases.release:3"}),
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "any outcome"), *AuditEvent.Outcome.choices]
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    field_order = ["actor", "action", "object", "outcome", "since", "until"]

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        object_type, _, object_id = (data.get("object") or "").strip().partition(":")
        return AuditFilters(
            actor=(data.get("actor") or "").strip(),
            action=(data.get("action") or "").strip(),
            object_type=object_type.strip(),
            object_id=object_id.strip(),
            outcome=data.get("outcome") or "",
            since=data.get("since"),
            until=data.get("until"),
        )
