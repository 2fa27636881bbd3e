"""Rules about deploy scripts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...base import Outcome, need_number, str_list
from ..shells import Reading, bash, powershell
from ..tree import Finding, SourceTree, judged
from . import rule

POWERSHELL_SUFFIXES = (".ps1", ".psm1")


def _sleeps(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "files": str_list(config, "files", required=False) or ["**/*.sh", "**/*.bash", "**/*.ps1"],
        "min_seconds": need_number(config, "min_seconds", default=5, minimum=0, maximum=3600),
    }


def read_script(tree: SourceTree, path: Path) -> Reading:
    """One script, read as PowerShell or as shell by its name (or its #! line)."""
    text = tree.read(path)
    first_line = text.partition("\n")[0]
    if (
        path.suffix.lower() in POWERSHELL_SUFFIXES
        or "pwsh" in first_line
        or "powershell" in first_line
    ):
        return powershell.read(text)
    return bash.read(text)


def _seconds(seconds: float) -> str:
    return "forever" if seconds == float("inf") else f"{seconds:g} s"


@rule("no_fixed_sleeps", keys={"files", "min_seconds"}, validate=_sleeps)
def no_fixed_sleeps(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    """A sleep of at least ``min_seconds`` outside a loop that polls for readiness guesses how
    long something takes; a short sleep between polls is how waiting should be done."""
    minimum = float(config.get("min_seconds", 5))
    scripts = tree.files(config["files"])
    fixed: list[Finding] = []
    unreadable: list[Finding] = []
    for path in scripts:
        name = tree.relative(path)
        reading = read_script(tree, path)
        fixed.extend(
            Finding(name, wait.line, f"{wait.text} ({_seconds(wait.seconds)})")
            for wait in reading.waits
            if wait.seconds is not None and wait.seconds >= minimum and not wait.polling
        )
        if problem := reading.unreadable:
            what = "this part" if problem.partly else "the script"
            message = f"cannot read {what} ({problem.reason}); its waits were not judged"
            unreadable.append(Finding(name, problem.line, message))
    if fixed:
        return judged("fail", "Fixed sleeps instead of readiness checks", fixed + unreadable)
    if unreadable:
        return judged("warn", "Scripts that could not be read", unreadable)
    if not scripts:
        return judged("pass", f"No scripts match {', '.join(config['files'])}")
    return judged("pass", f"No fixed sleeps of {minimum:g} s or more in {len(scripts)} scripts")
