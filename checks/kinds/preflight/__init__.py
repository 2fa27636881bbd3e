"""Preflight's own records as evidence: gaps about the release process itself (are approvals
required, does every deployment go through the lock, are rollbacks rehearsed, are backups
encrypted, …) are answered by what Preflight has recorded for the project, not by a tick.

A check names one ``probe``; each probe is a function registered in ``process``,
``deployments`` or ``backups`` that reads the ORM in the run's own thread (the kind is not
I/O-bound) with a fixed number of queries, whatever the history holds. Every detail names the
records it read and, when it does not pass, what to do about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.utils import timezone

from backups.models import Database
from releases.models import Environment

from ..base import CheckContext, ConfigError, Kind, Outcome, need_str, register
from . import backups, deployments, process  # noqa: F401 - each registers its probes
from .registry import DATABASE, ENVIRONMENT, PROBES, Subject, clean_common

# Why a probe refuses a setting its kind's other probes take.
NOT_JUDGED = {
    "environment": "judges no single environment",
    "database": "judges no database",
    "within_days": "judges no window of time",
}


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ConfigError("config", "must be a mapping")
    name = need_str(config, "probe")
    spec = PROBES.get(name)
    if spec is None:
        raise ConfigError("probe", f"unknown probe; choose one of {', '.join(sorted(PROBES))}")
    unknown = sorted(set(map(str, config)) - spec.keys - {"probe"})
    if unknown:
        takes = f"it takes {', '.join(sorted(spec.keys)) or 'no settings'}"
        why = NOT_JUDGED.get(unknown[0], "is not one of its settings")
        raise ConfigError(unknown[0], f"the {name} probe {why}; {takes}")
    clean: dict[str, Any] = {"probe": name, **clean_common(spec, config)}
    for key, clean_setting in spec.settings.items():
        clean[key] = clean_setting(config, key)
    return clean


def evaluate(ctx: CheckContext) -> Outcome:
    spec = PROBES.get(ctx.config.get("probe", ""))
    if spec is None:  # stored before a probe was renamed, or written around validation
        return Outcome("error", f"Unknown probe {ctx.config.get('probe')!r}.")
    run_environment = Environment.objects.get(pk=ctx.environment_id)
    subject = Subject(
        project_id=run_environment.project_id,
        project_slug=ctx.project_slug,
        release_id=ctx.release_id,
        now=ctx.as_of or timezone.now(),
        config=ctx.config,
    )
    if spec.scope == ENVIRONMENT:
        slug = ctx.config.get("environment") or run_environment.slug
        environment = (
            run_environment
            if slug == run_environment.slug
            else Environment.objects.filter(project_id=subject.project_id, slug=slug).first()
        )
        if environment is None:
            return Outcome(
                "error",
                f"{ctx.project_slug} has no environment {slug!r}: name one of its environments "
                "in the check's config (environment).",
            )
        subject = replace(subject, environment=environment)
    elif spec.scope == DATABASE:
        name = ctx.config["database"]
        database = Database.objects.filter(project_id=subject.project_id, name=name).first()
        if database is None:
            return Outcome(
                "pending",
                f"Preflight tracks no database {name} in {ctx.project_slug} yet: add it "
                "(Django admin → Databases) and record its backups.",
            )
        subject = replace(subject, database=database)
    return spec.judge(subject)


KIND = register(
    Kind(
        name="preflight",
        description="Judged from Preflight's own records: settings, deployments, webhooks, backups.",
        io_bound=False,
        validate=validate,
        evaluate=evaluate,
    )
)
