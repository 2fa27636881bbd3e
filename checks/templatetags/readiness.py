from __future__ import annotations

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from ..evaluation import EffectiveResult, waivable
from ..evidence import source_phrase
from ..forms import WaiverForm
from ..report.document import Text

register = template.Library()


@register.filter
def waiver_form_for(forms: dict[int, WaiverForm], check_id: int) -> WaiverForm:
    """The waiver form of one check: the one that came back with errors, else a blank one."""
    return forms.get(check_id) or WaiverForm(auto_id=f"id_waive_{check_id}_%s")


@register.filter
def is_waivable(item: EffectiveResult) -> bool:
    """Whether to offer a waiver form: a non-critical check not passing and not yet waived.
    The waiver service decides for real."""
    return waivable(item.result) and item.waiver is None


@register.filter
def source(item: EffectiveResult) -> str:
    """Who produced the result, in words."""
    return source_phrase(item.result)


@register.filter
def review_text(value: Text) -> str:
    """A worded piece of the review (checks.report.document.Text) as HTML, escaped."""
    parts = []
    for span in value:
        escaped: str = conditional_escape(span.text)
        if span.code:
            escaped = f"<code>{escaped}</code>"
        elif span.strong:
            escaped = f"<strong>{escaped}</strong>"
        parts.append(escaped)
    return mark_safe("".join(parts))  # noqa: S308 - every part was escaped above
