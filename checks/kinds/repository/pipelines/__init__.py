"""CI pipeline definitions read into one shape: a pipeline is jobs, each with the steps it runs
and the jobs that must succeed before it starts.

Each CI system has a module that reads its file format and says what its ordering means: GitHub
Actions (``needs``, and ``workflow_run`` between workflows), GitLab CI (stages, or ``needs``),
Bitbucket Pipelines (step order, ``parallel``, ``stage``), CircleCI (workflow ``requires``),
Azure Pipelines (stages and ``dependsOn``) and Jenkins (stage order, ``parallel``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import yamlfile
from ..tree import SourceTree


@dataclass
class Step:
    text: str  # the commands, script or action a step runs
    gates: bool = True  # False when a failure of this step does not fail the job


@dataclass
class Job:
    id: str  # unique in its pipeline
    name: str  # what people call it (its id, display name, enclosing stages): patterns match it
    line: int
    steps: list[Step] = field(default_factory=list)
    after: set[str] = field(default_factory=set)  # jobs (ids) that must succeed before it starts
    after_workflows: tuple[str, ...] = ()  # whole pipelines (by name) that must succeed first
    environment: str = ""  # the environment it deploys to, where the CI system says so
    gates: bool = True  # False when its failure does not stop what comes after it
    always: bool = False  # runs even when the jobs before it failed
    approval: bool = False  # a manual approval, which runs nothing
    file: str = ""  # where it is defined, when not in the pipeline's own file (an include)
    context: str = ""  # which of the file's pipelines it belongs to (a workflow, a branch)

    @property
    def title(self) -> str:
        return f"{self.name} ({self.context})" if self.context else self.name


@dataclass
class Pipeline:
    file: str
    system: str
    name: str = ""
    jobs: list[Job] = field(default_factory=list)
    problem: str = ""  # why the file is no pipeline; "" when it is one
    line: int | None = None  # where the problem is
    unreadable: bool = False  # the problem is that the file cannot be parsed
    unread: str = ""  # jobs defined where Preflight cannot read them (remote includes…)

    def job(self, job_id: str) -> Job | None:
        return next((job for job in self.jobs if job.id == job_id), None)

    def predecessors(self, job: Job, pipelines: Iterable[Pipeline] = ()) -> list[Job]:
        """Every job that must succeed before ``job`` runs, transitively, including those of
        other pipelines that trigger this one on success."""
        others = {p.name: p for p in pipelines if p is not self and p.name}
        seen: dict[int, Job] = {}
        pending: list[tuple[Pipeline, Job]] = [(self, job)]
        while pending:
            pipeline, current = pending.pop()
            upstream = [(pipeline, pipeline.job(i)) for i in sorted(current.after)]
            for name in current.after_workflows:
                if name in others:
                    upstream += [(others[name], j) for j in others[name].jobs]
            for owner, found in upstream:
                if found is not None and id(found) not in seen:
                    seen[id(found)] = found
                    pending.append((owner, found))
        return list(seen.values())


Reader = Callable[[SourceTree, Path], Pipeline]


def readers() -> dict[str, tuple[str, Reader]]:
    """Where each CI system keeps its definition: glob → (system, reader)."""
    from . import azure, bitbucket, circleci, github, gitlab, jenkins

    return {
        ".github/workflows/*.yml": ("GitHub Actions", github.read),
        ".github/workflows/*.yaml": ("GitHub Actions", github.read),
        ".gitlab-ci.yml": ("GitLab CI", gitlab.read),
        ".gitlab-ci.yaml": ("GitLab CI", gitlab.read),
        "bitbucket-pipelines.yml": ("Bitbucket Pipelines", bitbucket.read),
        "bitbucket-pipelines.yaml": ("Bitbucket Pipelines", bitbucket.read),
        ".circleci/config.yml": ("CircleCI", circleci.read),
        ".circleci/config.yaml": ("CircleCI", circleci.read),
        "azure-pipelines.yml": ("Azure Pipelines", azure.read),
        "azure-pipelines.yaml": ("Azure Pipelines", azure.read),
        ".azure-pipelines/*.yml": ("Azure Pipelines", azure.read),
        ".azure-pipelines/*.yaml": ("Azure Pipelines", azure.read),
        "Jenkinsfile": ("Jenkins", jenkins.read),
    }


SYSTEMS = (
    "GitHub Actions",
    "GitLab CI",
    "Bitbucket Pipelines",
    "CircleCI",
    "Azure Pipelines",
    "Jenkins",
)


def read_all(tree: SourceTree) -> list[Pipeline]:
    """Every CI definition in the tree, read (or with the problem that makes it none)."""
    pipelines = []
    for pattern, (_, read) in readers().items():
        for path in tree.files([pattern]):
            pipelines.append(read(tree, path))
    return pipelines


def document(tree: SourceTree, path: Path, system: str) -> tuple[yamlfile.YamlMap | None, Pipeline]:
    """The file's YAML mapping and an empty pipeline for it, or ``None`` and a pipeline that
    says why the file is none (invalid YAML, empty, not a mapping)."""
    pipeline = Pipeline(tree.relative(path), system, name=path.stem)
    try:
        documents = [d for d in yamlfile.load_all(tree.read(path)) if d is not None]
    except yaml.YAMLError as exc:
        pipeline.problem, pipeline.line = yamlfile.error_text(exc), yamlfile.error_line(exc)
        pipeline.unreadable = True
        return None, pipeline
    # A GitLab `spec:` header is a document of its own before the pipeline.
    if len(documents) > 1 and isinstance(documents[0], dict) and set(documents[0]) == {"spec"}:
        documents = documents[1:]
    if not documents:
        pipeline.problem = "empty: it defines nothing to run"
        return None, pipeline
    if not isinstance(documents[0], yamlfile.YamlMap):
        pipeline.problem, pipeline.line = "not a mapping of settings and jobs", 1
        return None, pipeline
    return documents[0], pipeline


def no_jobs(pipeline: Pipeline, what: str = "jobs") -> Pipeline:
    if not pipeline.jobs and not pipeline.problem and not pipeline.unread:
        pipeline.problem = f"defines no {what}"
    return pipeline


def text_list(value: object) -> list[str]:
    """A script as CI files write it: one string, or a list of strings (nested lists too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in text_list(item)]
    return []


def names(value: object) -> list[str]:
    """`needs: a`, `needs: [a, b]`, `needs: [{job: a}]`: the names."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        found = []
        for item in value:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict):
                name = item.get("job") or item.get("pipeline") or item.get("name")
                if isinstance(name, str):
                    found.append(name)
        return found
    return []
