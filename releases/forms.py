from __future__ import annotations

from django import forms

from core import text

from .models import Decision, Strategy

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class LockForm(forms.Form):
    reason = forms.CharField(
        max_length=text.REASON,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Everyone who is kept from deploying sees this.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        widget=DATETIME_WIDGET,
        label="Expires (UTC)",
        help_text="Empty: until someone unlocks it.",
    )


class FreezeForm(forms.Form):
    starts_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Starts (UTC)")
    ends_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Ends (UTC)")
    reason = forms.CharField(
        max_length=text.REASON,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ApprovalForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(
        required=False,
        max_length=text.COMMENT,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when you reject.",
    )
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The fingerprint of the evidence the page showed (checks.snapshots): approving is refused
    # if it changed since.
    evidence = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


CONFIRM_ERROR = {"required": "Tick the box to confirm."}


class DeployForm(forms.Form):
    strategy = forms.ChoiceField(choices=Strategy.choices, initial=Strategy.ROLLING)
    confirm = forms.BooleanField(error_messages=CONFIRM_ERROR)


class BreakGlassForm(forms.Form):
    strategy = forms.ChoiceField(choices=Strategy.choices, initial=Strategy.ROLLING)
    override_reason = forms.CharField(
        label="Why deploy with the gate closed?",
        max_length=text.REASON,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log and announced to the project's webhooks.",
    )
    confirm = forms.BooleanField(error_messages=CONFIRM_ERROR)


class FinishForm(forms.Form):
    status = forms.ChoiceField(choices=[("succeeded", "succeeded"), ("failed", "failed")])
    detail = forms.CharField(required=False, max_length=text.NOTES)


class RollbackForm(forms.Form):
    reason = forms.CharField(
        label="Why roll back?",
        max_length=text.REASON,
        error_messages=text.FORM_ERROR,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with the rollback and on the lock it sets.",
    )
    confirm = forms.BooleanField(error_messages=CONFIRM_ERROR)
