"""Rules about the project's CI pipeline definitions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from ...base import Outcome, str_list
from ..pipelines import SYSTEMS, Job, Pipeline, Step, read_all
from ..tree import Finding, SourceTree, judged
from . import rule

TEST_JOBS = (
    "test*", "check*", "lint*", "unit*", "integration*", "e2e", "spec*", "verify*",
    "pytest", "jest", "rspec", "unittest*",
)  # fmt: skip
DEPLOY_JOBS = (
    "deploy*", "release*", "publish*", "production", "prod", "ship*", "rollout*",
    "promote*", "deliver*",
)  # fmt: skip

# Commands that run a test suite, as CI steps write them.
TEST_COMMANDS = re.compile(
    r"\b(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test"
    r"|\b(?:jest|vitest|mocha|karma|ava|phpunit|rspec|ctest|bats|tox|nox)\b"
    r"|\b(?:cypress\s+run|playwright\s+test|manage\.py\s+test|python3?\s+-m\s+unittest)\b"
    r"|\bpytest\b|\b(?:go|cargo|dotnet|mix|deno|bun|swift|flutter)\s+test\b|\bcargo\s+nextest\b"
    r"|\bmvnw?\b.*\b(?:test|verify)\b|\bgradlew?\b.*\b(?:test|check)\b|\bmake\s+(?:test|check)\b"
    r"|\brake\s+(?:test|spec)\b|(?:^|[\s/])(?:run[-_])?tests?(?:[-_.][\w.-]*)?\.(?:sh|ps1)\b"
    r"|\btask\s+(?:VSTest@\d+|DotNetCoreCLI@\d+\s+test|Maven@\d+.*\b(?:test|verify))"
    r"|\b\w+/(?:test|run-tests)\b",
    re.IGNORECASE,
)
# Commands that deploy or publish.
DEPLOY_COMMANDS = re.compile(
    r"(?<!\w)deploy(?!\w)"
    r"|\bkubectl\s+(?:apply|replace|set\s+image|rollout\s+restart)\b|\bhelm\s+(?:upgrade|install)\b"
    r"|\bterraform\s+apply\b|\bpulumi\s+up\b|\bansible-playbook\b|\bkamal\s+(?:setup|redeploy)\b"
    r"|\b(?:npm|pnpm|yarn|cargo|gem|poetry|hatch)\s+(?:npm\s+)?(?:publish|push)\b|\btwine\s+upload\b"
    r"|\bgradlew?\b.*\bpublish|\bgit\s+push\s+(?:heroku|dokku|production)\b"
    r"|\baws\s+(?:ecs\s+update-service|lambda\s+update-function-code|s3\s+sync)\b"
    r"|\baz\s+(?:webapp|functionapp|containerapp)\s+(?:up|update|deploy)\b"
    r"|\btask\s+(?:AzureWebApp|AzureRmWebAppDeployment|AzureFunctionApp|AzureContainerApps"
    r"|HelmDeploy|KubernetesManifest|AzureResourceManagerTemplateDeployment)@",
    re.IGNORECASE,
)
# `npm test || true`: a test whose failure is ignored gates nothing.
IGNORED_FAILURE = re.compile(r"\|\|\s*(?:true|:|exit\s+0|echo)\b")
NO_CI = f"No CI pipeline definition ({', '.join(SYSTEMS)})"


def _words(name: str) -> list[str]:
    """`deploy-prod`, `Deploy to production`, `BuildAndTest`, `runE2ETests` → their words."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def named(job: Job, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(word, p.lower()) for word in _words(job.name) for p in patterns)


def _segments(steps: list[Step]) -> list[tuple[str, bool]]:
    """Each command of a job in order, with whether its failure fails the job."""
    found = []
    for step in steps:
        for line in step.text.splitlines():
            for part in re.split(r"&&|;", line):
                if part.strip():
                    found.append((part, step.gates and not IGNORED_FAILURE.search(line)))
    return found


@rule("ci_workflow_exists")
def ci_workflow_exists(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    pipelines = read_all(tree)
    real = [p for p in pipelines if not p.problem]
    broken = [Finding(p.file, p.line, p.problem) for p in pipelines if p.problem]
    if not real:
        if broken:
            return judged("fail", "No CI pipeline: no file defines jobs", broken)
        return judged("fail", NO_CI)
    listed = ", ".join(
        f"{p.file} ({p.system}, {len(p.jobs)} jobs{'; ' + p.unread if p.unread else ''})"
        for p in real
    )
    if broken:
        listed += "; no pipeline in " + "; ".join(str(f) for f in broken)
    return judged("pass", f"CI pipeline: {listed}")


def _patterns(config: Mapping[str, Any]) -> dict[str, Any]:
    clean = dict(config)
    for key in ("test_jobs", "deploy_jobs"):
        if key in config:
            clean[key] = str_list(config, key)
    return clean


class _Judge:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.test_jobs = config.get("test_jobs") or TEST_JOBS
        self.deploy_jobs = config.get("deploy_jobs") or DEPLOY_JOBS

    def deploys(self, job: Job) -> bool:
        if job.approval:
            return False
        return (
            named(job, self.deploy_jobs)
            or bool(job.environment)
            or any(DEPLOY_COMMANDS.search(c) for c, _ in _segments(job.steps))
        )

    def tests(self, job: Job) -> bool:
        """A job that runs tests and whose failure stops what comes after it."""
        if job.approval or not job.gates or self.deploys(job):
            return False
        return named(job, self.test_jobs) or any(
            gates and TEST_COMMANDS.search(c) for c, gates in _segments(job.steps)
        )

    def tests_first(self, job: Job) -> bool:
        """Does the deploy job run tests itself before its deploy command?"""
        segments = _segments(job.steps)
        deploy_at = next(
            (i for i, (c, _) in enumerate(segments) if DEPLOY_COMMANDS.search(c)),
            len(segments) - 1,
        )
        return any(gates and TEST_COMMANDS.search(c) for c, gates in segments[:deploy_at])

    def problem(self, job: Job, pipeline: Pipeline, pipelines: list[Pipeline]) -> str | None:
        """Why the deploy job ``job`` does not run only after tests (``None`` when it does)."""
        if job.always:
            return "runs even when the jobs before it fail"
        before = pipeline.predecessors(job, pipelines)
        if any(self.tests(b) for b in before) or self.tests_first(job):
            return None
        soft = [b.title for b in before if not b.gates and named(b, self.test_jobs)]
        if soft:
            return f"waits only for {', '.join(soft)}, whose failure is allowed"
        if not before:
            return "waits for no test job (for no job at all)"
        shown = ", ".join(b.title for b in before[:3]) + (" …" if len(before) > 3 else "")
        return f"waits for no test job (only for {shown})"


@rule(
    "ci_tests_before_deploy",
    keys={"test_jobs", "deploy_jobs"},
    validate=_patterns,
)
def ci_tests_before_deploy(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    """Every deploy job of every pipeline runs only after a test job succeeded."""
    pipelines = read_all(tree)
    real = [p for p in pipelines if not p.problem]
    unreadable = [Finding(p.file, p.line, p.problem) for p in pipelines if p.unreadable]
    if not real:
        return judged("fail", NO_CI + ": no tests run before a deployment", unreadable)
    judge = _Judge(config)
    deploying = [(p, j) for p in real for j in p.jobs if judge.deploys(j)]
    findings = []
    for pipeline, job in deploying:
        problem = judge.problem(job, pipeline, real)
        if problem:
            findings.append(Finding(job.file or pipeline.file, job.line, f"{job.title} {problem}"))
    if findings:
        return judged("fail", "Deploy jobs that do not wait for tests", findings + unreadable)
    if not deploying:
        unread = [Finding(p.file, None, p.unread) for p in real if p.unread]
        return judged(
            "warn",
            "No deploy job in the CI pipelines (by name, environment or deploy command), so "
            "nothing shows deployments wait for tests",
            unread + unreadable,
        )
    if unreadable:
        return judged(
            "warn", "Deploy jobs run after tests, but some CI files cannot be read", unreadable
        )
    shown = ", ".join(
        f"{job.title} ({job.file or pipeline.file})" for pipeline, job in deploying[:3]
    )
    more = f" and {len(deploying) - 3} more" if len(deploying) > 3 else ""
    return judged("pass", f"Every deploy job runs after tests: {shown}{more}")
