"""Bitbucket Pipelines (bitbucket-pipelines.yml).

Each pipeline (``default``, and each of ``branches``, ``tags``, ``bookmarks``, ``pull-requests``,
``custom``) is a list run in order: a failed step stops it. ``parallel`` runs its steps side by
side, ``stage`` runs its steps in order (its ``deployment`` applies to all of them); a step's
``deployment`` names the environment it deploys to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import yamlfile
from ..tree import SourceTree
from . import Job, Pipeline, Step, document, no_jobs

GROUPS = ("branches", "tags", "bookmarks", "pull-requests", "custom")


def read(tree: SourceTree, path: Path) -> Pipeline:
    config, pipeline = document(tree, path, "Bitbucket Pipelines")
    if config is None:
        return pipeline
    flows = config.get("pipelines")
    if isinstance(flows, dict):
        if isinstance(flows.get("default"), list):
            _flow(pipeline, "default", flows["default"])
        for group in GROUPS:
            members = flows.get(group)
            if isinstance(members, dict):
                for name, items in members.items():
                    if isinstance(items, list):
                        _flow(pipeline, f"{group} {name}", items)
    return no_jobs(pipeline, "pipelines with steps")


def _flow(pipeline: Pipeline, flow: str, items: list[Any]) -> None:
    """One pipeline's items in order: each waits for everything before it."""
    done: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, yamlfile.YamlMap):
            continue
        line = items.line_of(index) if isinstance(items, yamlfile.YamlList) else item.line
        group: list[Job] = []
        if isinstance(item.get("step"), dict):
            group.append(_step(flow, item["step"], item.line_of("step"), len(pipeline.jobs), ""))
        elif "parallel" in item:
            group += _parallel(pipeline, flow, item["parallel"], line)
        elif isinstance(item.get("stage"), dict):
            stage = item["stage"]
            previous: set[str] = set()
            environment = str(stage.get("deployment") or "")
            for step_item in stage.get("steps") or []:
                if isinstance(step_item, yamlfile.YamlMap) and isinstance(
                    step_item.get("step"), dict
                ):
                    job = _step(
                        flow,
                        step_item["step"],
                        step_item.line_of("step"),
                        len(pipeline.jobs) + len(group),
                        environment,
                    )
                    job.after |= previous
                    previous = previous | {job.id}
                    group.append(job)
        for job in group:
            job.after |= done
        pipeline.jobs += group
        done |= {job.id for job in group}


def _parallel(pipeline: Pipeline, flow: str, value: Any, line: int) -> list[Job]:
    steps = value.get("steps") if isinstance(value, dict) else value
    jobs: list[Job] = []
    for entry in steps if isinstance(steps, list) else []:
        if isinstance(entry, yamlfile.YamlMap) and isinstance(entry.get("step"), dict):
            jobs.append(
                _step(
                    flow, entry["step"], entry.line_of("step"), len(pipeline.jobs) + len(jobs), ""
                )
            )
    return jobs


def _step(flow: str, step: dict[str, Any], line: int, number: int, environment: str) -> Job:
    name = step["name"] if isinstance(step.get("name"), str) else f"step {number + 1}"
    commands = []
    for command in step.get("script") or []:
        if isinstance(command, str):
            commands.append(command)
        elif isinstance(command, dict) and isinstance(command.get("pipe"), str):
            commands.append(f"pipe: {command['pipe']}")
    return Job(
        id=f"{flow}: {name}#{number}",
        name=name,
        context=flow,
        line=line,
        steps=[Step(c) for c in commands],
        environment=str(step.get("deployment") or environment),
    )
