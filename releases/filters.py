"""The deployments timeline's filters: read from the query string, so a filtered view is a URL
(bookmarks and the back button work)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django import forms
from django.utils import timezone

from core.web.forms import DateRangeForm

from .metrics import DEFAULT_WINDOW_DAYS, WINDOW_CHOICES
from .models import DeploymentStatus, Environment

MAX_WINDOW_DAYS = 366


class TimelineFilterForm(DateRangeForm):
    environment = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False, choices=[("", "any status"), *DeploymentStatus.choices]
    )
    window = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=DEFAULT_WINDOW_DAYS,  # type: ignore[arg-type]
        choices=[(d, f"last {d} days") for d in WINDOW_CHOICES],
        label="Metrics over",
    )
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    field_order = ["environment", "status", "since", "until", "window"]

    def __init__(self, data: Any, *, environments: list[Environment]) -> None:
        # Bound from the query string even when it is empty, so the window select shows the
        # window actually used rather than its first option.
        data = data.copy()
        data.setdefault("window", str(DEFAULT_WINDOW_DAYS))
        super().__init__(data)
        field = self.fields["environment"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "all environments")] + [(e.slug, e.name) for e in environments]

    def clean_before(self) -> tuple[datetime, int] | None:
        """The keyset cursor: ``<started_at ISO>~<id>`` of the last deployment shown."""
        raw = self.cleaned_data.get("before") or ""
        if not raw:
            return None
        stamp, _, pk = raw.rpartition("~")
        try:
            started = datetime.fromisoformat(stamp)
            return started, int(pk)
        except ValueError:
            raise forms.ValidationError(
                "This page link is malformed; start again from the top."
            ) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()  # "To" not before "From"
        since: date | None = data.get("since")
        until: date | None = data.get("until")
        if since and "until" not in self.errors:
            # The metrics run from ``since`` to ``until`` (or today): keep the charts readable.
            end = until or max(since, timezone.now().astimezone(UTC).date())
            if (end - since).days >= MAX_WINDOW_DAYS:
                self.add_error("since", f"Choose at most {MAX_WINDOW_DAYS} days.")
        return data


def cursor_of(started_at: datetime, pk: int) -> str:
    return f"{started_at.isoformat()}~{pk}"
