"""What every probe of the ``preflight`` kind shares: how it is declared, the settings it takes,
what it is given to judge, and how its detail names the records it read."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.timesince import timesince

from backups.models import NAME_VALIDATOR, Database
from releases.models import EVENTS, Environment
from releases.models.projects import SLUG_PATTERN

from ..base import ConfigError, Outcome

# What a probe judges: one environment (default the run's), one database, or the whole project.
ENVIRONMENT = "environment"
DATABASE = "database"
PROJECT = "project"

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
# A detail names at most this many records; the rest are counted.
LISTED = 5

Clean = Callable[[Mapping[str, Any], str], Any]


@dataclass(frozen=True)
class Subject:
    """What a probe is given: the records the check's config names, resolved by the kind, and
    the moment of judgement (the window ends now and starts ``within_days`` before)."""

    project_id: int
    project_slug: str
    release_id: int
    now: datetime
    config: Mapping[str, Any]
    environment: Environment | None = None
    database: Database | None = None

    @property
    def env(self) -> Environment:
        assert self.environment is not None, "an environment probe is given its environment"
        return self.environment

    @property
    def db(self) -> Database:
        assert self.database is not None, "a database probe is given its database"
        return self.database

    @property
    def days(self) -> int:
        return int(self.config.get("within_days", DEFAULT_WINDOW_DAYS))

    @property
    def since(self) -> datetime:
        return self.now - timedelta(days=self.days)

    @property
    def in_window(self) -> str:
        return f"in the last {count(self.days, 'day')}"

    def ago(self, moment: datetime) -> str:
        return f"{timesince(moment, self.now)} ago"


Judge = Callable[[Subject], Outcome]


@dataclass(frozen=True)
class Probe:
    name: str
    scope: str
    window: bool
    settings: Mapping[str, Clean]
    judge: Judge

    @property
    def keys(self) -> frozenset[str]:
        """Every setting the probe takes, besides ``probe``."""
        common = {ENVIRONMENT: {"environment"}, DATABASE: {"database"}, PROJECT: set()}[self.scope]
        return frozenset(common | ({"within_days"} if self.window else set()) | set(self.settings))


PROBES: dict[str, Probe] = {}


def probe(
    name: str, *, scope: str, window: bool = False, settings: Mapping[str, Clean] | None = None
) -> Callable[[Judge], Judge]:
    """Register ``judge`` as the probe ``name``. ``window``: it judges the last ``within_days``;
    ``settings``: its own settings, each with the function that cleans it."""

    def register(judge: Judge) -> Judge:
        PROBES[name] = Probe(name, scope, window, settings or {}, judge)
        return judge

    return register


# Cleaning settings: each returns the value to store (None: leave the key out).


def clean_common(probe: Probe, config: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if probe.scope == ENVIRONMENT and config.get("environment") is not None:
        slug = config["environment"]
        if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
            raise ConfigError("environment", "name one of the project's environments by its slug")
        clean["environment"] = slug
    if probe.scope == DATABASE:
        name = config.get("database")
        if name is None:
            raise ConfigError("database", "is required: name the database as backups name it")
        if not isinstance(name, str) or not re.match(NAME_VALIDATOR.regex, name):
            raise ConfigError("database", "name the database as backups name it, e.g. pos-main")
        clean["database"] = name
    if probe.window:
        clean["within_days"] = whole_number(
            default=DEFAULT_WINDOW_DAYS, minimum=1, maximum=MAX_WINDOW_DAYS
        )(config, "within_days")
    return clean


def whole_number(*, default: int, minimum: int, maximum: int) -> Clean:
    def clean(config: Mapping[str, Any], key: str) -> int:
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, "must be a whole number")
        if not minimum <= value <= maximum:
            raise ConfigError(key, f"must be between {minimum} and {maximum}")
        return value

    return clean


def event_names(default: Sequence[str]) -> Clean:
    def clean(config: Mapping[str, Any], key: str) -> list[str]:
        value = config.get(key, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, "must be a webhook event or a list of them")
        unknown = [v for v in value if v not in EVENTS]
        if unknown:
            raise ConfigError(
                key, f"unknown event {unknown[0]!r}; Preflight sends {', '.join(EVENTS)}"
            )
        return list(dict.fromkeys(value))

    return clean


# Wording.


def count(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def listed(items: Sequence[str], total: int | None = None) -> str:
    """``a, b and c``; with ``total`` beyond the items shown, ``a, b and 7 more``."""
    total = len(items) if total is None else total
    shown = list(items)
    if total > len(shown):
        shown.append(f"{total - len(shown)} more")
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def records(ids: Iterable[int]) -> list[str]:
    return [f"#{pk}" for pk in ids]
