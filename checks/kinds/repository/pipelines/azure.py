"""Azure Pipelines (azure-pipelines.yml, .azure-pipelines/*.yml).

A stage starts after the stage before it, or after those its ``dependsOn`` names
(``dependsOn: []``: none); jobs of a stage run side by side unless a job's ``dependsOn`` orders
them. A ``deployment`` job deploys to its ``environment``. ``condition: always()`` (or
``succeededOrFailed()``, ``failed()``) runs after failures; ``continueOnError`` means a failure
stops nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import yamlfile
from ..tree import SourceTree
from . import Job, Pipeline, Step, document, names, no_jobs

RUNS_REGARDLESS = re.compile(
    r"\b(?:always|succeededOrFailed|failed)\(\)|not\(\s*canceled\(\)\s*\)", re.IGNORECASE
)
SCRIPT_KEYS = ("script", "bash", "pwsh", "powershell")
TASK_INPUTS = ("command", "goals", "arguments", "script", "inlineScript", "tasks", "testRunTitle")


def read(tree: SourceTree, path: Path) -> Pipeline:
    config, pipeline = document(tree, path, "Azure Pipelines")
    if config is None:
        return pipeline
    if "extends" in config:
        pipeline.unread = "jobs from `extends:` a template"
    stages = config.get("stages")
    if isinstance(stages, list):
        _stages(pipeline, stages)
    elif isinstance(config.get("jobs"), list):
        _jobs(pipeline, "", config["jobs"], set(), always=False)
    elif isinstance(config.get("steps"), list):
        pipeline.jobs.append(
            Job("job", pipeline.file, config.line_of("steps"), steps=_steps(config["steps"]))
        )
    return no_jobs(pipeline)


def _stages(pipeline: Pipeline, stages: list[Any]) -> None:
    members: dict[str, set[str]] = {}
    previous: str | None = None
    for stage in stages:
        if not isinstance(stage, dict) or not isinstance(stage.get("stage"), str):
            continue  # a template: nothing to read here
        name = stage["stage"]
        depends = (
            names(stage["dependsOn"]) if "dependsOn" in stage else ([previous] if previous else [])
        )
        before = {job for other in depends for job in members.get(other, set())}
        jobs = stage.get("jobs")
        added = _jobs(
            pipeline,
            name,
            jobs if isinstance(jobs, list) else [],
            before,
            always=bool(RUNS_REGARDLESS.search(str(stage.get("condition", "")))),
        )
        members[name] = added
        previous = name


def _jobs(
    pipeline: Pipeline, stage: str, jobs: list[Any], before: set[str], *, always: bool
) -> set[str]:
    ids: dict[str, str] = {}
    created: list[tuple[Job, list[str]]] = []
    for index, body in enumerate(jobs):
        if not isinstance(body, dict):
            continue
        kind = "deployment" if isinstance(body.get("deployment"), str) else "job"
        if not isinstance(body.get(kind), str):
            continue
        name = body[kind]
        display = body.get("displayName")
        job_id = f"{stage}.{name}" if stage else name
        environment = body.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        steps = _steps(body.get("steps")) + _strategy_steps(body.get("strategy"))
        job = Job(
            id=job_id,
            name=" ".join(
                part
                for part in (stage, name, f"({display})" if isinstance(display, str) else "")
                if part
            ),
            line=jobs.line_of(index) if isinstance(jobs, yamlfile.YamlList) else 1,
            steps=steps,
            after=set(before),
            environment=str(environment or ("deployment" if kind == "deployment" else "")),
            gates=body.get("continueOnError") is not True,
            always=always or bool(RUNS_REGARDLESS.search(str(body.get("condition", "")))),
        )
        ids[name] = job_id
        created.append((job, names(body.get("dependsOn"))))
    for job, depends in created:
        job.after |= {ids[d] for d in depends if d in ids}
        pipeline.jobs.append(job)
    return {job.id for job, _ in created}


def _steps(value: Any) -> list[Step]:
    steps = []
    for step in value if isinstance(value, list) else []:
        if not isinstance(step, dict):
            continue
        gates = step.get("continueOnError") is not True
        for key in SCRIPT_KEYS:
            if isinstance(step.get(key), str):
                steps.append(Step(step[key], gates))
        task = step.get("task")
        if isinstance(task, str):
            inputs = step.get("inputs")
            inputs = inputs if isinstance(inputs, dict) else {}
            described = " ".join(str(inputs[k]) for k in TASK_INPUTS if k in inputs)
            steps.append(Step(f"task {task} {described}".strip(), gates))
    return steps


def _strategy_steps(strategy: Any) -> list[Step]:
    """A deployment job's steps live under its strategy (runOnce, rolling, canary) and hooks."""
    found: list[Step] = []
    if isinstance(strategy, dict):
        for key, value in strategy.items():
            if key == "on" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "failure"}
            if key == "steps":
                found += _steps(value)
            else:
                found += _strategy_steps(value)
    return found
