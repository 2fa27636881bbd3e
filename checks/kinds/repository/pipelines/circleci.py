"""CircleCI (.circleci/config.yml).

Jobs run as a workflow lists them: a job starts after the jobs it ``requires`` succeeded. A job
of an orb (``node/test``) runs what its name says; ``type: approval`` is a manual hold. Without
workflows, CircleCI runs the job called ``build``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import yamlfile
from ..tree import SourceTree
from . import Job, Pipeline, Step, document, names, no_jobs


def read(tree: SourceTree, path: Path) -> Pipeline:
    config, pipeline = document(tree, path, "CircleCI")
    if config is None:
        return pipeline
    jobs = config.get("jobs")
    definitions = jobs if isinstance(jobs, yamlfile.YamlMap) else yamlfile.YamlMap()
    workflows = config.get("workflows")
    listed = False
    if isinstance(workflows, dict):
        for workflow, body in workflows.items():
            if (
                workflow != "version"
                and isinstance(body, dict)
                and isinstance(body.get("jobs"), list)
            ):
                listed = True
                _workflow(pipeline, str(workflow), body["jobs"], definitions)
    if not listed and isinstance(definitions.get("build"), dict):
        job = Job(
            "build", "build", definitions.line_of("build"), steps=_steps(definitions["build"])
        )
        pipeline.jobs.append(job)
    return no_jobs(pipeline)


def _workflow(
    pipeline: Pipeline, workflow: str, entries: list[Any], definitions: yamlfile.YamlMap
) -> None:
    aliases: dict[str, str] = {}
    jobs: list[tuple[Job, list[str]]] = []
    for index, entry in enumerate(entries):
        settings: dict[str, Any] = {}
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, dict) and len(entry) == 1:
            name, given = next(iter(entry.items()))
            settings = given if isinstance(given, dict) else {}
        else:
            continue
        alias = settings["name"] if isinstance(settings.get("name"), str) else str(name)
        line = entries.line_of(index) if isinstance(entries, yamlfile.YamlList) else 1
        body = definitions.get(name)
        steps = _steps(body) if isinstance(body, dict) else [Step(str(name))]
        job = Job(
            id=f"{workflow}/{alias}",
            name=alias if alias == name else f"{alias} ({name})",
            context=workflow,
            line=line,
            steps=steps,
            approval=settings.get("type") == "approval",
        )
        aliases[alias] = job.id
        jobs.append((job, names(settings.get("requires"))))
    for job, requires in jobs:
        job.after = {aliases[r] for r in requires if r in aliases}
        pipeline.jobs.append(job)


def _steps(body: dict[str, Any]) -> list[Step]:
    steps = []
    for step in body.get("steps") or []:
        if isinstance(step, str):
            steps.append(Step(step))
        elif isinstance(step, dict) and len(step) == 1:
            kind, value = next(iter(step.items()))
            if kind == "run":
                command = value.get("command") if isinstance(value, dict) else value
                steps.append(Step(command if isinstance(command, str) else ""))
            else:  # an orb's command: `node/install-packages`, `aws-ecs/deploy-service-update`
                steps.append(Step(str(kind)))
    return steps
