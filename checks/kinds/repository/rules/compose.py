"""Rules about Docker Compose files."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from ...base import Outcome, need_str
from ..tree import SourceTree
from . import rule

SECRET_NAME = re.compile(
    r"pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential", re.IGNORECASE
)
ENV_REFERENCE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}?$")


def _file(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**config, "file": need_str(config, "file", default="docker-compose.yml")}


def _services(
    tree: SourceTree, config: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, Outcome | None]:
    files = list(tree.glob([config["file"]]))
    if not files:
        return None, Outcome("fail", f"No {config['file']} in the tree.")
    try:
        document = yaml.safe_load(tree.read(files[0])) or {}
    except yaml.YAMLError as exc:
        return None, Outcome("error", f"{config['file']} is not valid YAML: {exc}")
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict) or not services:
        return None, Outcome("fail", f"{config['file']} defines no services.")
    return services, None


@rule("compose_resource_limits", keys={"file"}, validate=_file)
def compose_resource_limits(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    services, problem = _services(tree, config)
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


@rule("compose_no_plaintext_secrets", keys={"file"}, validate=_file)
def compose_no_plaintext_secrets(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    services, problem = _services(tree, config)
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
