"""How long free text may be: one limit per kind of text.

The page forms (a ``maxlength`` the browser keeps to, and a form error past it), the services
(so a command or a script is held to the same) and the API's input serializers (declared as
``maxLength`` in the OpenAPI schema) all read these. Generous on purpose: the aim is to keep a
page readable and a row sane, not to make anyone shorten what they meant to say."""

from __future__ import annotations

from django.core.exceptions import ValidationError

# What a person writes beside a decision or a tick: an approval's comment, a tick's note, an
# attestation's note.
COMMENT = 5_000
# Why something is done: a waiver, a lock, a freeze window, breaking glass, a rollback.
REASON = 2_000
# What pipelines write: release notes, a reported result's detail, how a deployment ended.
# CI pastes log excerpts here.
NOTES = 20_000
# A name read in lists: a check's title.
TITLE = 200
# A link to evidence (the columns that store links hold this many).
LINK = 500


def too_long_message(limit: int, length: int) -> str:
    return f"Keep this to {limit} characters; it has {length}."


# A form field's message past its limit, in the words the services use.
FORM_ERROR = {"max_length": "Keep this to %(limit_value)s characters; it has %(show_value)s."}


def check_lengths(**fields: tuple[str, int]) -> None:
    """Raise a ValidationError naming each field whose text is past its limit:
    ``check_lengths(reason=(reason, text.REASON))``."""
    errors = {
        name: too_long_message(limit, len(value))
        for name, (value, limit) in fields.items()
        if value and len(value) > limit
    }
    if errors:
        raise ValidationError(errors)
