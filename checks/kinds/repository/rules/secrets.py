"""Secrets anywhere in the tree, found by detect-secrets (see ``detector.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...base import ConfigError, Outcome, need_str, str_list
from .. import detector
from ..tree import MAX_FILES, Finding, SourceTree
from . import rule
from .compose import failed


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    baseline = need_str(config, "baseline", default=".secrets.baseline")
    if Path(baseline).is_absolute() or ".." in Path(baseline).parts:
        raise ConfigError("baseline", f"{baseline!r} must stay inside the tree")
    exclude = str_list(config, "exclude", required=False)
    for pattern in exclude:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ConfigError("exclude", f"{pattern!r} must stay inside the tree")
    return {**config, "baseline": baseline, "exclude": exclude}


@rule("no_plaintext_secrets", keys={"baseline", "exclude"}, validate=_settings)
def no_plaintext_secrets(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    try:
        baseline = detector.read_baseline(tree, config["baseline"])
    except detector.BaselineError as exc:
        # The allow-list decides what counts: without it every listed secret would be reported.
        return Outcome("error", f"{exc}.")
    scan = detector.scan(tree, baseline, config.get("exclude") or [])
    scanned = f"{scan.files} file{'' if scan.files == 1 else 's'} scanned"
    if scan.allowed:
        known = "known secret" if scan.allowed == 1 else "known secrets"
        scanned += f", {scan.allowed} {known} allowed by {baseline.name}"
    if not scan.complete:
        scanned += f"; stopped at {detector.SCAN_SECONDS:g} s or {MAX_FILES} files, the rest was not scanned"
    if scan.detected:
        findings = [Finding(d.file, d.line, d.type) for d in scan.detected]
        return failed("Secrets in the source tree", findings, f" ({scanned}).")
    if not scan.complete:
        return Outcome("warn", f"No secrets found so far ({scanned}).")
    return Outcome("pass", f"No secrets found ({scanned}).")
