from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ConfigError(ValueError):
    """A check's config is invalid. ``field`` names the offending key (dotted for nested)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Outcome:
    status: str  # pass | warn | fail | error | pending | skipped
    detail: str
    evidence_url: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # Who produced it (checks.models.Source): the worker unless a person or a pipeline did.
    source: str = "worker"
    user_id: int | None = None
    token_id: int | None = None
    attested_by_id: int | None = None
    # Not known yet: evaluate the check again in this many seconds (a verification watching
    # a release's metrics for a while). The run stays open until the check gives a final answer.
    recheck_after: float | None = None


@dataclass(frozen=True)
class VerifiedRelease:
    """The release last verified in a run's environment (before the run's own release): what
    the environment runs now, which git rules compare the release with."""

    version: str
    git_sha: str
    # When it ran alone in the environment: from its deployment's end until the next
    # deployment there started (None: it still does). Baselines are measured over this span.
    live_from: datetime | None = None
    live_until: datetime | None = None


@dataclass(frozen=True)
class CheckContext:
    """What a kind may know about the check it evaluates: plain values, so I/O-bound kinds can
    run in worker threads without touching the ORM."""

    check_id: int
    code: str
    config: Mapping[str, Any]
    project_slug: str
    release_id: int
    version: str
    git_sha: str
    environment_id: int
    environment_slug: str
    timeout: float
    # The moment the run judges: when it was started. Kinds that read Preflight's own history
    # judge it as it stood then, so a run taken over by another worker gets the same answer
    # and a run recorded for a past moment (the demo's review) is judged as of that moment.
    as_of: datetime | None = None
    severity: str = ""
    created_by_id: int | None = None  # who registered the release (four eyes on evidence)
    run_id: int | None = None
    # The project's ``repository:`` block (checks/kinds/repository/source/config.py), if any.
    repository: Mapping[str, Any] | None = None
    verified: VerifiedRelease | None = None
    run_kind: str = "readiness"  # or "verification": after a deployment, of what it deployed
    # The result's data from the check's previous evaluation in this run, if it asked to be
    # evaluated again (Outcome.recheck_after): what it has seen so far.
    previous: Mapping[str, Any] | None = None

    def placeholders(self) -> dict[str, str]:
        from django.conf import settings

        return {
            "base_url": settings.PREFLIGHT_BASE_URL.rstrip("/"),
            "project": self.project_slug,
            "version": self.version,
            "git_sha": self.git_sha,
            "environment": self.environment_slug,
        }


class CatalogRule(Protocol):
    def __call__(
        self, checks: Sequence[tuple[str, Mapping[str, Any]]], *, has_repository: bool
    ) -> list[tuple[str, str, str]]: ...


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    # I/O-bound kinds run concurrently in the run's thread pool and must not use the ORM (the
    # migration rehearsal reaches it only through its service, which closes the thread's
    # connection); the others read Preflight's own tables and run in the task's thread.
    io_bound: bool
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    evaluate: Callable[[CheckContext], Outcome]
    # Seconds a run gives one check of the kind (its config validated), when that is not
    # PREFLIGHT_CHECK_TIMEOUT_SECONDS: a kind that works for minutes keeps its own limit.
    timeout: Callable[[Mapping[str, Any]], float] | None = None
    # Rules over all of a catalog's checks of the kind at once, (code, validated config) each,
    # knowing whether the catalog names the project's repository: the problems, as (code,
    # field, message).
    validate_catalog: CatalogRule | None = None
    # Compares the release with the one last verified in the environment (CheckContext.verified).
    compares_releases: bool = False

    def timeout_for(self, config: Mapping[str, Any], default: float) -> float:
        return default if self.timeout is None else self.timeout(config)


REGISTRY: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    REGISTRY[kind.name] = kind
    return kind


def get_kind(name: str) -> Kind:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            "kind", f"unknown kind {name!r}; choose one of {', '.join(sorted(REGISTRY))}"
        ) from None


# Preflight's own configuration: a check, configured by a project's admin, must never send these
# to a server of their choosing (an http header) or connect with them (a postgres DSN).
RESERVED_ENV = frozenset({"DATABASE_URL", "REDIS_URL", "SECRET_KEY"})
RESERVED_ENV_PREFIXES = ("PREFLIGHT_", "DJANGO_", "AWS_")


def reserved_env(name: str) -> bool:
    return name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES)


def refuse_reserved_env(key: str, name: str) -> None:
    if reserved_env(name):
        raise ConfigError(
            key, f"{name} is Preflight's own configuration; name a variable of the checked system"
        )


def sentence(text: str) -> str:
    """Upper-case the first letter only (str.capitalize would lower-case WAL, UTC, names…)."""
    return text[:1].upper() + text[1:]


# Small validators shared by the kinds' config checks.


def only_keys(config: Mapping[str, Any], allowed: set[str]) -> None:
    if not isinstance(config, Mapping):
        raise ConfigError("config", "must be a mapping")
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(
            unknown[0], f"unknown setting; known: {', '.join(sorted(allowed)) or 'none'}"
        )


def need_str(config: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = config.get(key, default)
    if value is None:
        raise ConfigError(key, "is required")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "must be a non-empty string")
    return value


def need_number(
    config: Mapping[str, Any], key: str, *, default: float, minimum: float, maximum: float
) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, "must be a number")
    if not minimum <= value <= maximum:
        raise ConfigError(key, f"must be between {minimum:g} and {maximum:g}")
    return float(value)


def str_list(config: Mapping[str, Any], key: str, *, required: bool = True) -> list[str]:
    value = config.get(key)
    if value is None:
        if required:
            raise ConfigError(key, "is required")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, "must be a string or a list of strings")
    return value


def fill(template: str, ctx: CheckContext) -> str:
    """Replace {base_url}, {project}, {version}, {git_sha} and {environment} in a config value."""
    try:
        return template.format_map(ctx.placeholders())
    except (KeyError, ValueError) as exc:
        raise ConfigError("config", f"bad placeholder in {template!r}: {exc}") from None


def check_placeholders(key: str, template: str) -> None:
    import string

    allowed = {"base_url", "project", "version", "git_sha", "environment"}
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(key, f"malformed placeholder: {exc}") from None
    unknown = names - allowed
    if unknown:
        raise ConfigError(
            key,
            f"unknown placeholder {{{sorted(unknown)[0]}}}; use {', '.join('{' + n + '}' for n in sorted(allowed))}",
        )
