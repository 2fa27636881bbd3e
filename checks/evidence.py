"""Where each result comes from, and whose evidence counts (PRODUCT.md "Evidence").

- Every result records its source: Preflight's worker (an automated check), a person (a tick,
  with note and link) or a pipeline (a service token of the project reporting a ``ci`` check).
- ``ci`` checks take results from pipelines only: a service token of the check's project and,
  when the check names services (``config: {services: [...]}``), one of those by token name.
  A person's token, a browser session or an unlisted service is refused (``not_a_pipeline``).
- Four eyes on evidence: a critical manual check ticked by the release's creator does not count
  (it stays ``pending``) until another person attests that tick. The attester is a member who
  may attest (deployer, approver, admin) and not the creator.
"""

from __future__ import annotations

from typing import Any

from audit.actors import Actor

from .models import CheckResult, Severity, Source


def pipeline_refusal(actor: Actor, check: Any) -> str | None:
    """Why this actor may not report results for the check, or None for a pipeline it accepts."""
    token = actor.token
    if token is None or not token.is_service:
        if token is not None:
            who = f"a person's token ({actor.label})"
        elif actor.user is not None:
            who = f"a browser session ({actor.label})"
        else:
            who = actor.label
        return (
            f"Results of {check.code} come from the project's pipelines (service tokens), "
            f"not from {who}."
        )
    if token.project_id != check.project_id:
        return f"The service token {token.name} belongs to another project."
    services = (check.config or {}).get("services") or []
    if services and token.name not in services:
        return (
            f"{check.code} accepts results from {', '.join(services)} only, not from {token.name}."
        )
    return None


def needs_attestation(*, severity: str, created_by_id: int | None, ticked_by_id: int) -> bool:
    """Whether a tick counts only once a second person attests it."""
    return (
        severity == Severity.CRITICAL
        and created_by_id is not None
        and ticked_by_id == created_by_id
    )


def attestation_refusal(actor: Actor, release: Any) -> str | None:
    """Why this actor may not attest ticks of the release (the four-eyes part), or None."""
    if actor.user is None:
        return "Attestations are made by people; a service token cannot attest."
    if release.created_by_id is not None and release.created_by_id == actor.user.pk:
        return (
            f"{actor.user.get_username()} registered release {release.version}; under the "
            "four-eyes rule someone else must attest its evidence."
        )
    return None


def _username(user: Any) -> str | None:
    return None if user is None else str(user.get_username())


def source_of(result: CheckResult) -> dict[str, Any]:
    """A result's provenance as the API gives it."""
    token = result.source_token
    return {
        "kind": result.source,
        "user": _username(result.source_user),
        "token": None if token is None else token.name,
        "attested_by": _username(result.attested_by),
    }


def source_phrase(result: CheckResult) -> str:
    """A result's provenance in words, for the pages."""
    if result.source == Source.PERSON:
        who = _username(result.source_user) or "a person"
        phrase = f"by {who}"
        if result.attested_by_id is not None:
            phrase += f", attested by {_username(result.attested_by)}"
        return phrase
    if result.source == Source.PIPELINE:
        token = result.source_token
        return f"by the pipeline {token.name}" if token is not None else "by a pipeline"
    if result.source == Source.LEGACY:
        return "unknown (recorded before Preflight kept sources)"
    return f"by Preflight's worker ({result.check_item.kind} check)"
