"""Git facts as rules: the version's tag points at the release's commit, the default branch
contains it, and what changed since the release last verified in the run's environment.

They need the commit itself, so they hold only for a project that names its repository in the
catalog; on a plain tree (PREFLIGHT_REPOSITORY_ROOT, ``evaluate_tree``) they cannot run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ...base import ConfigError, Outcome, str_list
from ..source import ReleaseCommit, SourceError
from ..tree import Finding, SourceTree, judged
from . import rule

NEEDS_REPOSITORY = (
    "This rule reads git history: name the project's repository in the catalog (repository:)."
)
CHANGED_STATUSES = ("pass", "warn", "fail")
# The rules here: a working tree (evaluate_tree) has no release commit to ask them about.
GIT_RULES = frozenset({"tag_points_at_release", "on_branch", "changed_since_deployed"})


def _commit(tree: SourceTree) -> ReleaseCommit | None:
    return tree.commit


@rule("tag_points_at_release")
def tag_points_at_release(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    """The tag the repository's ``tag_pattern`` makes of the version (v1.4.2) exists and points
    at the release's commit: the version names exactly the code that was judged."""
    commit = _commit(tree)
    if commit is None:
        return Outcome("error", NEEDS_REPOSITORY)
    sha = commit.revision.sha
    tag = commit.repository.tag_for(commit.version)
    try:
        tagged = commit.revision.tag_commit(tag)
        if tagged is None:
            others = commit.revision.tags()
            at = f"tags at {sha[:12]}: {', '.join(others)}" if others else f"no tag at {sha[:12]}"
            return Outcome("fail", f"No tag {tag} in the repository ({at}).")
    except SourceError as exc:
        return Outcome("error", str(exc))
    if tagged != sha:
        return Outcome(
            "fail",
            f"Tag {tag} points at {tagged[:12]}, not at the release's commit {sha[:12]}.",
            data={"tag": tag, "tagged": tagged},
        )
    return Outcome("pass", f"Tag {tag} points at {sha[:12]}.", data={"tag": tag})


@rule("on_branch")
def on_branch(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    """The repository's default branch (as fetched for the run) contains the release's commit:
    what is released was merged, and was not rewritten away since."""
    commit = _commit(tree)
    if commit is None:
        return Outcome("error", NEEDS_REPOSITORY)
    sha, branch = commit.revision.sha, commit.repository.default_branch
    try:
        merged = commit.revision.on_branch(branch)
    except SourceError as exc:
        return Outcome("error", str(exc))
    if not merged:
        return Outcome(
            "fail",
            f"Commit {sha[:12]} is not on {branch}: the released code was never merged, or {branch} was rewritten since.",
        )
    return Outcome("pass", f"Commit {sha[:12]} is on {branch}.")


def _changed(config: Mapping[str, Any]) -> dict[str, Any]:
    clean = dict(config)
    if "files" in config:
        clean["files"] = str_list(config, "files")
    status = config.get("changed_status", "pass")
    if status not in CHANGED_STATUSES:
        raise ConfigError("changed_status", f"must be one of {', '.join(CHANGED_STATUSES)}")
    clean["changed_status"] = status
    return clean


@rule("changed_since_deployed", keys={"files", "changed_status"}, validate=_changed)
def changed_since_deployed(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    """The files that differ between the release last verified in the run's environment and
    this one (paths from the repository's top), optionally only those matching ``files``; with
    ``changed_status`` warn or fail, a change to them needs a second look."""
    commit = _commit(tree)
    if commit is None:
        return Outcome("error", NEEDS_REPOSITORY)
    since = commit.verified
    if since is None:
        return Outcome(
            "skipped",
            f"No release has been verified in {commit.environment} yet: nothing to compare with.",
        )
    try:
        changes = commit.revision.changes_since(since.git_sha)
    except SourceError as exc:
        return Outcome(
            "error",
            f"Cannot compare with {since.version} (verified in {commit.environment}): {exc}",
        )
    patterns = config.get("files")
    if patterns:
        changes = [c for c in changes if any(_glob(p).match(c.path) for p in patterns)]
    data = {
        "since": since.version,
        "since_sha": since.git_sha,
        "environment": commit.environment,
        "files": [{"path": c.path, "status": c.status, "old_path": c.old_path} for c in changes],
    }
    what = f"of {', '.join(patterns)} " if patterns else ""
    where = f"since {since.version} (verified in {commit.environment})"
    if not changes:
        return judged("pass", f"No files {what}changed {where}", data=data)
    findings = [
        Finding(c.path, None, f"{c.status} from {c.old_path}" if c.old_path else c.status)
        for c in changes
    ]
    summary = f"{len(changes)} file{'s' if len(changes) != 1 else ''} {what}changed {where}"
    return judged(config.get("changed_status", "pass"), summary, findings, data=data)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A path glob as the tree's rules write them: ``**`` any number of directories, ``*`` and
    ``?`` within one name."""
    out, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out) + r"\Z")
