"""A release's migrations rehearsed on a restored copy of the database's newest verified backup;
each check judges one aspect of the run's one rehearsal of that database:

- ``rollback``: every migration applied has rollback SQL, it runs, and the schema after it is
  the schema before the migrations (MG-001);
- ``dry_run``: the migrations apply to a copy of the real data, with the locks they take that
  block writes reported (MG-002, DS-007);
- ``assertions``: the data assertions hold on the migrated copy and its row counts keep the
  backup's manifest (MG-003);
- ``duration``: each migration and all of them within their budgets (MG-005).

Settings that shape the rehearsal itself (``layout``, ``path``, ``migrations``,
``timeout_minutes``, ``max_scratch_mb``) may be stated on any of the run's checks of the
database, once: the catalog refuses two checks of one database that disagree. The rehearsal
runs the assertions of every ``assertions`` check of the database.

It takes minutes, so it runs in the run's thread pool (where the run keeps its heartbeat) with
its own time limit, and reaches Preflight's tables through ``checks.services.rehearsals``,
which closes the thread's connection when it is done."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from ..rehearsal.layouts import DEFAULT_DIRECTORY, LAYOUTS
from .base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    check_placeholders,
    need_number,
    need_str,
    only_keys,
    register,
)

ASPECTS = ("rollback", "dry_run", "assertions", "duration")
# Settings of the rehearsal itself, shared by the run's checks of a database.
SHARED = ("layout", "path", "migrations", "timeout_minutes", "max_scratch_mb")
# Settings of how one aspect is judged.
ASPECT_KEYS = {
    "rollback": set(),
    "dry_run": {"blocking_locks", "lock_min_rows"},
    "assertions": {"assertions", "row_counts"},
    "duration": {"budget_seconds", "total_budget_seconds", "over_budget"},
}
ROW_COUNTS = ("no_loss", "exact", "off")
VERDICTS = ("pass", "warn", "fail")
DEFAULT_TIMEOUT_MINUTES = 10
DEFAULT_MAX_SCRATCH_MB = 10 * 1024


def max_timeout_minutes() -> float:
    """A rehearsal runs within one run's task: it must end before the task's soft limit."""
    return max(1.0, float(settings.CELERY_TASK_SOFT_TIME_LIMIT) / 60 - 1)


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(config, {"database", "aspect", *SHARED, *set().union(*ASPECT_KEYS.values())})
    clean: dict[str, Any] = {"database": need_str(config, "database")}
    aspect = config.get("aspect")
    if aspect not in ASPECTS:
        raise ConfigError("aspect", f"must be one of {', '.join(ASPECTS)}")
    clean["aspect"] = aspect
    for key in sorted(set(config) - {"database", "aspect", *SHARED}):
        if key not in ASPECT_KEYS[aspect]:
            owner = next(a for a, keys in ASPECT_KEYS.items() if key in keys)
            raise ConfigError(key, f"is a setting of aspect {owner}, not {aspect}")
    clean |= _shared(config)
    clean |= {"dry_run": _dry_run, "assertions": _assertions, "duration": _duration}.get(
        aspect, lambda c: {}
    )(config)
    return clean


def _shared(config: Mapping[str, Any]) -> dict[str, Any]:
    """Only the shared settings the check states: the others come from the run's other checks
    of the database, or their defaults."""
    clean: dict[str, Any] = {}
    if "layout" in config:
        if config["layout"] not in LAYOUTS:
            raise ConfigError("layout", f"must be one of {', '.join(LAYOUTS)}")
        clean["layout"] = config["layout"]
    for key in ("path", "migrations"):
        if key in config:
            value = need_str(config, key)
            check_placeholders(key, value)
            if value.startswith("/") or ".." in value.split("/"):
                raise ConfigError(key, "must be relative, without '..'")
            clean[key] = value
    if "timeout_minutes" in config:
        clean["timeout_minutes"] = need_number(
            config,
            "timeout_minutes",
            default=DEFAULT_TIMEOUT_MINUTES,
            minimum=0.05,
            maximum=max_timeout_minutes(),
        )
    if "max_scratch_mb" in config:
        clean["max_scratch_mb"] = need_number(
            config, "max_scratch_mb", default=DEFAULT_MAX_SCRATCH_MB, minimum=1, maximum=2**24
        )
    return clean


def _verdict(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if value not in VERDICTS:
        raise ConfigError(key, f"must be one of {', '.join(VERDICTS)}")
    return str(value)


def _dry_run(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "blocking_locks": _verdict(config, "blocking_locks", "warn"),
        "lock_min_rows": int(
            need_number(config, "lock_min_rows", default=10_000, minimum=0, maximum=10**12)
        ),
    }


def _assertions(config: Mapping[str, Any]) -> dict[str, Any]:
    raw = config.get("assertions", [])
    if not isinstance(raw, list):
        raise ConfigError("assertions", "must be a list of {name, sql, message}")
    assertions, names = [], set()
    for position, item in enumerate(raw):
        where = f"assertions[{position}]"
        if not isinstance(item, Mapping):
            raise ConfigError(where, "must be a mapping with name and sql")
        only_keys(item, {"name", "sql", "message"})
        name = item.get("name", f"assertion {position + 1}")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.name", "must be a non-empty string")
        if name in names:
            raise ConfigError(f"{where}.name", "two assertions share this name")
        names.add(name)
        query = item.get("sql")
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{where}.sql", "is required: a query whose first value is true")
        message = item.get("message", "")
        if not isinstance(message, str):
            raise ConfigError(f"{where}.message", "must be text")
        assertions.append({"name": name, "sql": query, "message": message})
    row_counts = config.get("row_counts", "no_loss")
    if row_counts not in ROW_COUNTS:
        raise ConfigError("row_counts", f"must be one of {', '.join(ROW_COUNTS)}")
    if not assertions and row_counts == "off":
        raise ConfigError("assertions", "give at least one assertion, or compare row_counts")
    return {"assertions": assertions, "row_counts": row_counts}


def _duration(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "budget_seconds": need_number(
            config, "budget_seconds", default=60, minimum=0.001, maximum=86_400
        ),
        "total_budget_seconds": need_number(
            config, "total_budget_seconds", default=300, minimum=0.001, maximum=86_400
        ),
        "over_budget": _verdict(config, "over_budget", "warn"),
    }


def shared_settings(configs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The rehearsal's settings from the validated configs of a run's checks of one database
    (in catalog order): each the first that states it, else its default."""
    merged: dict[str, Any] = {}
    for config in configs:
        for key in SHARED:
            if key in config and key not in merged:
                merged[key] = config[key]
    merged.setdefault("layout", "")
    merged.setdefault("migrations", DEFAULT_DIRECTORY.get(merged["layout"], "migrations"))
    merged.setdefault("timeout_minutes", DEFAULT_TIMEOUT_MINUTES)
    merged.setdefault("max_scratch_mb", DEFAULT_MAX_SCRATCH_MB)
    merged["assertions"] = _all_assertions(configs)
    return merged


def _all_assertions(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for config in configs:
        for item in config.get("assertions", []):
            seen.setdefault(item["sql"], item)
    return list(seen.values())


def validate_catalog(
    checks: Sequence[tuple[str, Mapping[str, Any]]], *, has_repository: bool
) -> list[tuple[str, str, str]]:
    """Checks of one database share one rehearsal: they may not disagree on its settings, one
    of them names the layout, and without the project's repository one names the tree's path."""
    problems: list[tuple[str, str, str]] = []
    by_database: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for code, config in checks:
        by_database.setdefault(config["database"], []).append((code, config))
    for database, group in sorted(by_database.items()):
        for key in SHARED:
            stated = [(code, config[key]) for code, config in group if key in config]
            for code, value in stated[1:]:
                if value != stated[0][1]:
                    problems.append(
                        (
                            code,
                            key,
                            f"{stated[0][0]} rehearses {database} with {key} {stated[0][1]!r}: "
                            "the checks of one database share one rehearsal, state it once",
                        )
                    )
        if not has_repository and not any("path" in config for _code, config in group):
            problems.append(
                (
                    group[0][0],
                    "path",
                    f"is required on one of the checks of {database}: where the release's "
                    "tree is under PREFLIGHT_REPOSITORY_ROOT (or name the project's repository)",
                )
            )
        if not any("layout" in config for _code, config in group):
            problems.append(
                (
                    group[0][0],
                    "layout",
                    f"is required on one of the checks of {database}: one of {', '.join(LAYOUTS)}",
                )
            )
    return problems


def evaluate(ctx: CheckContext) -> Outcome:
    from ..rehearsal.verdicts import judge
    from ..services import rehearsals

    got = rehearsals.rehearsal_obtain(ctx)
    if isinstance(got, Outcome):
        return got
    for key in SHARED:
        if key in ctx.config and got.settings.get(key) != ctx.config[key]:
            # The catalog refuses such checks; one edited since (in the admin) is told so.
            return Outcome(
                "error",
                f"This check rehearses {ctx.config['database']} with {key} "
                f"{ctx.config[key]!r}, the run's rehearsal of it used {got.settings.get(key)!r}: "
                "the checks of one database share one rehearsal, state it once.",
                data={"rehearsal": got.pk},
            )
    return judge(ctx.config, got)


def timeout(config: Mapping[str, Any]) -> float:
    """Every check of the kind may wait for the run's one rehearsal, whichever check states its
    time limit: each gets the longest a rehearsal may take, plus the time to fetch the backup."""
    return max_timeout_minutes() * 60 + 60


KIND = register(
    Kind(
        name="migration_rehearsal",
        description="The release's migrations rehearsed on a restored copy of the database.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
        timeout=timeout,
        validate_catalog=validate_catalog,
    )
)
