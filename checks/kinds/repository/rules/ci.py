"""Rules about the project's CI pipeline definitions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...base import Outcome
from ..tree import SourceTree
from . import rule

CI_FILES = (
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    ".gitlab-ci.yml",
    "Jenkinsfile",
    ".circleci/config.yml",
    "azure-pipelines.yml",
)


@rule("ci_workflow_exists")
def ci_workflow_exists(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    found = [tree.relative(p) for p in tree.glob(CI_FILES)]
    if not found:
        return Outcome(
            "fail",
            "No CI pipeline definition (GitHub Actions, GitLab CI, Jenkins, CircleCI, Azure).",
        )
    return Outcome("pass", f"CI pipeline: {', '.join(found)}.")
