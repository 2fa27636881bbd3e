"""GitHub Actions workflows (.github/workflows/*.yml).

A job starts after the jobs it ``needs`` succeeded (unless its ``if:`` says ``always()``); a
workflow triggered by ``workflow_run`` of another starts after that one, and its jobs wait for its
success when their ``if:`` checks ``github.event.workflow_run.conclusion == 'success'``. A job that
calls a reusable workflow of the same repository runs that workflow's steps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import yamlfile
from ..tree import SourceTree
from . import Job, Pipeline, Step, document, names, no_jobs

RUNS_REGARDLESS = re.compile(r"\b(?:always|failure)\(\)|!\s*cancelled\(\)")
ON_SUCCESS = re.compile(r"workflow_run\.conclusion\s*==\s*['\"]success['\"]")
STEP_SETTINGS = ("script", "command", "run", "args")  # `with:` inputs that hold commands


def read(tree: SourceTree, path: Path) -> Pipeline:
    workflow, pipeline = document(tree, path, "GitHub Actions")
    if workflow is None:
        return pipeline
    pipeline.name = workflow["name"] if isinstance(workflow.get("name"), str) else pipeline.file
    if "on" not in workflow:
        pipeline.problem, pipeline.line = "has no `on:` trigger, so GitHub never runs it", 1
        return pipeline
    jobs = workflow.get("jobs")
    triggers = _triggering_workflows(workflow["on"])
    if isinstance(jobs, yamlfile.YamlMap):
        for job_id, body in jobs.items():
            if isinstance(body, dict) and ("steps" in body or "uses" in body):
                pipeline.jobs.append(_job(tree, str(job_id), body, jobs.line_of(job_id), triggers))
    return no_jobs(pipeline)


def _triggering_workflows(on: Any) -> tuple[str, ...]:
    if isinstance(on, dict) and isinstance(on.get("workflow_run"), dict):
        return tuple(names(on["workflow_run"].get("workflows")))
    return ()


def _job(
    tree: SourceTree, job_id: str, body: dict[str, Any], line: int, triggers: tuple[str, ...]
) -> Job:
    display = body.get("name")
    condition = str(body.get("if", ""))
    environment = body.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    needs = set(names(body.get("needs")))
    job = Job(
        id=job_id,
        name=f"{job_id} ({display})" if isinstance(display, str) and display != job_id else job_id,
        line=line,
        steps=_steps(body.get("steps")),
        after=needs,
        environment=str(environment or ""),
        gates=body.get("continue-on-error") is not True
        and "${{" not in str(body.get("continue-on-error", "")),
        always=bool(RUNS_REGARDLESS.search(condition)),
    )
    if triggers and not needs and ON_SUCCESS.search(condition):
        job.after_workflows = triggers
    uses = body.get("uses")
    if isinstance(uses, str):
        job.steps = [Step(uses), *_reusable_steps(tree, uses)]
    return job


def _steps(value: Any) -> list[Step]:
    steps = []
    for step in value if isinstance(value, list) else []:
        if not isinstance(step, dict):
            continue
        parts = [step[key] for key in ("run", "uses") if isinstance(step.get(key), str)]
        settings = step.get("with")
        if isinstance(settings, dict):
            parts += [settings[k] for k in STEP_SETTINGS if isinstance(settings.get(k), str)]
        soft = step.get("continue-on-error")
        steps.append(
            Step("\n".join(parts), gates=soft is not True and "${{" not in str(soft or ""))
        )
    return steps


def _reusable_steps(tree: SourceTree, uses: str) -> list[Step]:
    """The steps of a reusable workflow in this repository (`uses: ./.github/workflows/x.yml`)."""
    if not uses.startswith("./"):
        return []
    path = (tree.root / uses.split("@")[0]).resolve()
    if not path.is_relative_to(tree.root) or not path.is_file():
        return []
    called, _ = document(tree, path, "GitHub Actions")
    jobs = called.get("jobs") if called is not None else None
    if not isinstance(jobs, dict):
        return []
    return [
        step
        for body in jobs.values()
        if isinstance(body, dict)
        for step in _steps(body.get("steps"))
    ]
