"""Rules about which files a tree holds and what they contain."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...base import ConfigError, Outcome, need_str, str_list
from .. import migrations
from ..tree import Finding, RuleOutcome, SourceTree, judged
from . import rule


def _files(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**config, "files": str_list(config, "files")}


@rule("file_exists", keys={"files"}, validate=_files)
def files_exist(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    missing = [p for p in config["files"] if not tree.matches([p])]
    if missing:
        findings = tuple(Finding(p, None, "missing") for p in missing)
        return RuleOutcome(
            "fail", f"Missing: {', '.join(missing)}.", findings=findings, summary="Missing files"
        )
    return RuleOutcome("pass", f"Found {', '.join(config['files'])}.")


def _migrations(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "migrations": str_list(config, "migrations", required=False)
        or list(migrations.DEFAULT_LOCATIONS),
        "rollback": str_list(config, "rollback", required=False)
        or list(migrations.DEFAULT_ROLLBACK),
    }


@rule("migrations_have_rollback", keys={"migrations", "rollback"}, validate=_migrations)
def migrations_have_rollback(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    found = migrations.find(tree, config["migrations"], config["rollback"])
    if not found:
        return judged("warn", f"No migrations match {', '.join(config['migrations'])}")
    lacking = [m for m in found if m.rollback is None]
    summary = f"{len(found) - len(lacking)} of {len(found)} migrations have rollback SQL"
    if not lacking:
        return judged("pass", summary)
    findings = []
    for migration in lacking:
        if migration.empty:
            findings += [Finding(file, line, "holds no SQL") for file, line in migration.empty]
        else:
            findings.append(Finding(migration.file, None, "no rollback"))
    looked_for = sorted({m.looked_for for m in lacking if not m.empty})
    if looked_for:
        summary += f" (looked for {' or '.join(looked_for)})"
    return judged(
        "fail", f"{summary}; missing for", findings, data={"missing": [m.name for m in lacking]}
    )


def _forbid(config: Mapping[str, Any]) -> dict[str, Any]:
    try:
        re.compile(need_str(config, "pattern"))
    except re.error as exc:
        raise ConfigError("pattern", f"is not a regular expression: {exc}") from None
    return _files(config)


@rule("forbid_pattern", keys={"files", "pattern", "message"}, validate=_forbid)
def forbid_pattern(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    """A line matching ``pattern`` fails, outside lines commented out with #. A finding shows
    what matched, not the whole line: the rest may be a value nobody should read in a report."""
    pattern = re.compile(config["pattern"])
    findings = []
    for path in tree.files(config["files"]):
        for number, line in enumerate(tree.read(path).splitlines(), start=1):
            match = pattern.search(line)
            if match and not line.lstrip().startswith("#"):
                shown = match.group(0).strip() or line.strip()
                findings.append(Finding(tree.relative(path), number, shown[:60]))
    if findings:
        message = config.get("message") or f"Forbidden pattern {config['pattern']!r} found"
        return judged("fail", message, findings)
    return judged("pass", f"No match for {config['pattern']!r}")
