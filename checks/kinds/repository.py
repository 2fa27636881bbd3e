"""Rules over a checked-out source tree: files exist, migrations have rollback SQL, compose
services have limits and no plaintext secrets, deploy scripts have no fixed sleeps, CI exists.

``path`` is relative to PREFLIGHT_REPOSITORY_ROOT and may name the release, e.g.
``checkouts/{project}/{git_sha}``, where CI checks the release out before it asks for a run."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from .base import (
    CheckContext,
    ConfigError,
    Kind,
    Outcome,
    check_placeholders,
    fill,
    need_number,
    need_str,
    only_keys,
    register,
    str_list,
)

MAX_FILES = 10_000
MAX_FILE_BYTES = 1024 * 1024
SECRET_NAME = re.compile(
    r"pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential", re.IGNORECASE
)
ENV_REFERENCE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}?$")
# A fixed wait: `sleep 15` or `Start-Sleep -Seconds 15`. Short sleeps between polls of a readiness
# loop are how waiting should be done, so only waits of at least ``min_seconds`` count.
FIXED_SLEEP = re.compile(
    r"(?<![\w-])(?:sleep|Start-Sleep(?:\s+-(?:Seconds|s))?)\s+(\d+(?:\.\d+)?)([smh]?)\b",
    re.IGNORECASE,
)
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}
CI_FILES = (
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    ".gitlab-ci.yml",
    "Jenkinsfile",
    ".circleci/config.yml",
    "azure-pipelines.yml",
)

RULES: dict[str, set[str]] = {
    "file_exists": {"files"},
    "migrations_have_rollback": {"migrations", "rollback"},
    "compose_resource_limits": {"file"},
    "compose_no_plaintext_secrets": {"file"},
    "no_fixed_sleeps": {"files", "min_seconds"},
    "ci_workflow_exists": set(),
    "forbid_pattern": {"files", "pattern", "message"},
}


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    rule = need_str(config, "rule")
    if rule not in RULES:
        raise ConfigError("rule", f"unknown rule; choose one of {', '.join(RULES)}")
    only_keys(config, {"rule", "path"} | RULES[rule])
    path = need_str(config, "path")
    check_placeholders("path", path)
    if Path(path).is_absolute() or ".." in Path(path).parts:
        raise ConfigError("path", "must be relative to PREFLIGHT_REPOSITORY_ROOT, without '..'")
    clean = dict(config)
    if rule in ("file_exists", "forbid_pattern"):
        clean["files"] = str_list(config, "files")
    if rule == "no_fixed_sleeps":
        clean["files"] = str_list(config, "files", required=False) or ["**/*.sh", "**/*.ps1"]
        clean["min_seconds"] = need_number(
            config, "min_seconds", default=5, minimum=0, maximum=3600
        )
    if rule == "forbid_pattern":
        try:
            re.compile(need_str(config, "pattern"))
        except re.error as exc:
            raise ConfigError("pattern", f"is not a regular expression: {exc}") from None
    if rule == "migrations_have_rollback":
        clean["migrations"] = need_str(config, "migrations", default="**/migrations/*/")
        clean["rollback"] = str_list(config, "rollback", required=False) or [
            "*rollback*.sql",
            "down.sql",
        ]
    if rule.startswith("compose_"):
        clean["file"] = need_str(config, "file", default="docker-compose.yml")
    for key in ("files", "rollback"):
        for pattern in clean.get(key, []):
            if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
                raise ConfigError(key, f"{pattern!r} must stay inside the tree")
    return clean


def evaluate(ctx: CheckContext) -> Outcome:
    root = Path(settings.PREFLIGHT_REPOSITORY_ROOT).resolve()
    relative = fill(ctx.config["path"], ctx)
    tree = (root / relative).resolve()
    if not tree.is_relative_to(root):
        return Outcome("error", f"{relative} leads outside the repository root.")
    if not tree.is_dir():
        return Outcome("error", f"No source tree at {relative} (under PREFLIGHT_REPOSITORY_ROOT).")
    rule: Callable[[Path, Mapping[str, Any]], Outcome] = _RULES[ctx.config["rule"]]
    return rule(tree, ctx.config)


def _glob(tree: Path, patterns: list[str]) -> Iterator[Path]:
    seen = 0
    for pattern in patterns:
        for path in sorted(tree.glob(pattern)):
            seen += 1
            if seen > MAX_FILES:
                return
            if path.resolve().is_relative_to(tree):
                yield path


def _read(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")


def _files_exist(tree: Path, config: Mapping[str, Any]) -> Outcome:
    missing = [p for p in config["files"] if not any(_glob(tree, [p]))]
    if missing:
        return Outcome("fail", f"Missing: {', '.join(missing)}.")
    return Outcome("pass", f"Found {', '.join(config['files'])}.")


def _migrations_have_rollback(tree: Path, config: Mapping[str, Any]) -> Outcome:
    migrations = [p for p in _glob(tree, [config["migrations"]]) if p.is_dir()]
    if not migrations:
        return Outcome("warn", f"No migration directories match {config['migrations']}.")
    lacking = [m.name for m in migrations if not any(_glob(m, config["rollback"]))]
    have = len(migrations) - len(lacking)
    summary = f"{have} of {len(migrations)} migrations have rollback SQL"
    if lacking:
        return Outcome(
            "fail", f"{summary}; missing for {', '.join(lacking)}.", data={"missing": lacking}
        )
    return Outcome("pass", f"{summary}.")


def _compose(tree: Path, config: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Outcome | None]:
    files = list(_glob(tree, [config["file"]]))
    if not files:
        return None, Outcome("fail", f"No {config['file']} in the tree.")
    try:
        document = yaml.safe_load(_read(files[0])) or {}
    except yaml.YAMLError as exc:
        return None, Outcome("error", f"{config['file']} is not valid YAML: {exc}")
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict) or not services:
        return None, Outcome("fail", f"{config['file']} defines no services.")
    return services, None


def _compose_resource_limits(tree: Path, config: Mapping[str, Any]) -> Outcome:
    services, problem = _compose(tree, config)
    if problem:
        return problem
    assert services is not None
    lacking = []
    for name, service in services.items():
        service = service or {}
        limits = (((service.get("deploy") or {}).get("resources") or {}).get("limits")) or {}
        has_cpu = "cpus" in limits or "cpus" in service
        has_memory = "memory" in limits or "mem_limit" in service
        if not (has_cpu and has_memory):
            what = " and ".join(w for w, ok in (("CPU", has_cpu), ("memory", has_memory)) if not ok)
            lacking.append(f"{name} (no {what} limit)")
    if lacking:
        return Outcome("fail", f"Services without resource limits: {', '.join(lacking)}.")
    return Outcome("pass", f"All {len(services)} services have CPU and memory limits.")


def _environment_items(service: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        for key, value in environment.items():
            yield str(key), "" if value is None else str(value)
    elif isinstance(environment, list):
        for item in environment:
            key, _, value = str(item).partition("=")
            yield key, value


def _compose_no_plaintext_secrets(tree: Path, config: Mapping[str, Any]) -> Outcome:
    services, problem = _compose(tree, config)
    if problem:
        return problem
    assert services is not None
    offenders = [
        f"{name}: {key}"
        for name, service in services.items()
        for key, value in _environment_items(service or {})
        # KEY_FILE=/run/secrets/... points at a mounted secret: that is the fix, not the problem.
        if SECRET_NAME.search(key)
        and not key.upper().endswith("_FILE")
        and value
        and not ENV_REFERENCE.match(value)
    ]
    if offenders:
        return Outcome("fail", f"Plaintext secrets in {config['file']}: {', '.join(offenders)}.")
    return Outcome("pass", f"No plaintext secrets in {config['file']}.")


def _matches(tree: Path, patterns: list[str], matcher: Callable[[str], bool]) -> list[str]:
    found = []
    for path in _glob(tree, patterns):
        if not path.is_file():
            continue
        for number, line in enumerate(_read(path).splitlines(), start=1):
            if not line.lstrip().startswith("#") and matcher(line):
                found.append(f"{path.relative_to(tree)}:{number}: {line.strip()[:80]}")
    return found


def _no_fixed_sleeps(tree: Path, config: Mapping[str, Any]) -> Outcome:
    minimum = float(config.get("min_seconds", 5))

    def fixed_wait(line: str) -> bool:
        return any(
            float(amount) * UNIT_SECONDS[unit.lower()] >= minimum
            for amount, unit in FIXED_SLEEP.findall(line)
        )

    found = _matches(tree, config["files"], fixed_wait)
    if found:
        return Outcome("fail", "Fixed sleeps instead of readiness checks: " + "; ".join(found[:10]))
    return Outcome("pass", "No fixed sleeps in the deploy scripts.")


def _ci_workflow_exists(tree: Path, config: Mapping[str, Any]) -> Outcome:
    found = [str(p.relative_to(tree)) for p in _glob(tree, list(CI_FILES))]
    if not found:
        return Outcome(
            "fail",
            "No CI pipeline definition (GitHub Actions, GitLab CI, Jenkins, CircleCI, Azure).",
        )
    return Outcome("pass", f"CI pipeline: {', '.join(found)}.")


def _forbid_pattern(tree: Path, config: Mapping[str, Any]) -> Outcome:
    pattern = re.compile(config["pattern"])
    found = _matches(tree, config["files"], lambda line: pattern.search(line) is not None)
    if found:
        message = config.get("message") or f"Forbidden pattern {config['pattern']!r} found"
        return Outcome("fail", f"{message}: " + "; ".join(found[:10]))
    return Outcome("pass", f"No match for {config['pattern']!r}.")


_RULES: dict[str, Callable[[Path, Mapping[str, Any]], Outcome]] = {
    "file_exists": _files_exist,
    "migrations_have_rollback": _migrations_have_rollback,
    "compose_resource_limits": _compose_resource_limits,
    "compose_no_plaintext_secrets": _compose_no_plaintext_secrets,
    "no_fixed_sleeps": _no_fixed_sleeps,
    "ci_workflow_exists": _ci_workflow_exists,
    "forbid_pattern": _forbid_pattern,
}

KIND = register(
    Kind(
        name="repository",
        description="Rules over a checked-out source tree.",
        io_bound=True,
        validate=validate,
        evaluate=evaluate,
    )
)
