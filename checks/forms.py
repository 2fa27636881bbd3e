from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from core import text
from releases.forms import DATETIME_WIDGET

from .models import ResultStatus, Severity


class TickForm(forms.Form):
    ticked = forms.TypedChoiceField(
        choices=[("1", "tick"), ("0", "untick")], coerce=lambda v: v == "1", initial="1"
    )
    note = forms.CharField(
        required=False,
        max_length=text.COMMENT,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    evidence_url = forms.CharField(
        required=False,
        max_length=text.LINK,
        error_messages=text.FORM_ERROR,
        label="Evidence link",
        widget=forms.URLInput(attrs={"placeholder": "https://…"}),
        help_text="A link to what shows it is done (a ticket, a log, a document).",
    )


class AttestForm(forms.Form):
    note = forms.CharField(
        required=False,
        label="What you checked",
        max_length=text.COMMENT,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="You attest this tick: its note and its evidence link.",
    )


def _in_two_weeks() -> str:
    return (timezone.now() + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")


class WaiverForm(forms.Form):
    reason = forms.CharField(
        max_length=text.REASON,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the risk is acceptable for now.",
    )
    expires_at = forms.DateTimeField(
        widget=DATETIME_WIDGET, label="Expires (UTC)", initial=_in_two_weeks
    )


STATUS_FILTERS = [
    ("", "any status"),
    ("failing", "not passing (fail, error, pending)"),
    *[(s, s) for s in ResultStatus.values],
]


class CheckFilterForm(forms.Form):
    """Filters of the checks list; they live in the query string, so a filtered view can be
    bookmarked and the back button restores it."""

    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    severity = forms.ChoiceField(choices=[("", "any severity"), *Severity.choices], required=False)
    q = forms.CharField(required=False, label="Search", max_length=100)
