"""GitLab CI (.gitlab-ci.yml, with its local includes).

Without ``needs`` a job starts after every job of the earlier stages (default stages: build, test,
deploy; a job's default stage is test); with ``needs`` it waits only for those (``needs: []``:
for nothing). ``allow_failure`` (the default for ``when: manual``) means a job's failure stops
nothing; ``when: always`` / ``on_failure`` run after failures. ``extends`` is merged as GitLab
merges it: mappings deeply, the job's own keys winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import yamlfile
from ..tree import SourceTree
from . import Job, Pipeline, Step, document, names, no_jobs, text_list

RESERVED = frozenset(
    {"image", "services", "stages", "types", "before_script", "after_script", "variables"}
    | {"cache", "include", "default", "workflow", "spec"}
)
DEFAULT_STAGES = ("build", "test", "deploy")
NOT_DEPLOYING = frozenset({"stop", "prepare", "verify", "access"})


def read(tree: SourceTree, path: Path) -> Pipeline:
    config, pipeline = document(tree, path, "GitLab CI")
    if config is None:
        return pipeline
    definitions: dict[str, tuple[Any, str, int]] = {}  # key → (body, file, line)
    for file, included in _included(tree, config, pipeline):
        for key, body in included.items():
            definitions[str(key)] = (body, file, included.line_of(key))
    for key, body in config.items():
        definitions[str(key)] = (body, "", config.line_of(key))

    declared = config.get("stages")
    stages = [".pre", *(declared if isinstance(declared, list) else DEFAULT_STAGES), ".post"]
    default = config.get("default")
    before = config.get(
        "before_script", default.get("before_script") if isinstance(default, dict) else None
    )
    staged: list[tuple[Job, int, list[str] | None]] = []
    for key, (body, file, line) in definitions.items():
        if key in RESERVED or key.startswith(".") or not isinstance(body, dict):
            continue
        settings = _extended(body, definitions, depth=0)
        if not any(k in settings for k in ("script", "trigger", "run")):
            continue
        stage = settings.get("stage", "test")
        position = stages.index(stage) if stage in stages else len(stages)
        needs = names(settings["needs"]) if "needs" in settings else None
        job = _job(key, settings, line, file, before, _references(definitions))
        staged.append((job, position, needs))

    for job, position, needs in staged:
        if needs is not None:
            job.after = set(needs)
        else:
            job.after = {other.id for other, earlier, _ in staged if earlier < position}
        pipeline.jobs.append(job)
    return no_jobs(pipeline)


def _included(
    tree: SourceTree, config: yamlfile.YamlMap, pipeline: Pipeline
) -> list[tuple[str, yamlfile.YamlMap]]:
    """The local files ``include:`` brings in; other includes are noted as unread."""
    value = config.get("include")
    entries = value if isinstance(value, list) else [value] if value else []
    found, unread = [], []
    for entry in entries:
        local = entry if isinstance(entry, str) and "://" not in entry else None
        if isinstance(entry, dict):
            local = entry.get("local")
            unread += [k for k in ("remote", "template", "project", "component") if k in entry]
        elif isinstance(entry, str) and "://" in entry:
            unread.append("remote")
        if not isinstance(local, str):
            continue
        for path in tree.files([local.lstrip("/")]):
            included, _ = document(tree, path, "GitLab CI")
            if included is not None:
                found.append((tree.relative(path), included))
    if unread:
        pipeline.unread = f"jobs from include: {', '.join(sorted(set(unread)))}"
    return found


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _extended(
    body: dict[str, Any], definitions: dict[str, tuple[Any, str, int]], depth: int
) -> dict[str, Any]:
    parents = names(body.get("extends"))
    if not parents or depth > 10:  # GitLab allows 11 levels
        return dict(body)
    merged: dict[str, Any] = {}
    for parent in parents:
        template = definitions.get(parent, ({}, "", 0))[0]
        if isinstance(template, dict):
            merged = _merge(merged, _extended(template, definitions, depth + 1))
    return _merge(merged, {k: v for k, v in body.items() if k != "extends"})


def _references(definitions: dict[str, tuple[Any, str, int]]) -> Any:
    """A function that replaces GitLab's ``!reference [.job, key]`` by what it points at."""

    def resolve(value: Any, depth: int = 0) -> Any:
        if isinstance(value, yamlfile.Tagged) and value.tag == "reference" and depth < 10:
            target: Any = definitions.get(str(value[0]), (None,))[0] if value else None
            for key in value[1:]:
                target = target.get(key) if isinstance(target, dict) else None
            return resolve(target, depth + 1)
        if isinstance(value, list):
            return [resolve(item, depth + 1) for item in value]
        return value

    return resolve


def _job(key: str, job: dict[str, Any], line: int, file: str, before: Any, resolve: Any) -> Job:
    when = job.get("when")
    allowed = job.get("allow_failure", when == "manual")
    environment = job.get("environment")
    if isinstance(environment, dict):
        action = environment.get("action")
        environment = "" if action in NOT_DEPLOYING else environment.get("name")
    commands = text_list(resolve(job.get("before_script", before))) + text_list(
        resolve(job.get("script"))
    )
    trigger = job.get("trigger")
    if trigger:
        commands.append(f"trigger {trigger if isinstance(trigger, str) else ''}")
    return Job(
        id=key,
        name=key,
        line=line,
        file=file,
        steps=[Step(command) for command in commands],
        environment=str(environment or ""),
        gates=allowed is False,
        always=when in ("always", "on_failure"),
    )
