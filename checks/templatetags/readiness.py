from __future__ import annotations

from django import template

from ..evaluation import EffectiveResult, waivable
from ..evidence import source_phrase
from ..forms import WaiverForm

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
