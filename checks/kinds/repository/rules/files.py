"""Rules about which files a tree holds and what they contain."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ...base import ConfigError, Outcome, need_str, str_list
from ..tree import SourceTree
from . import rule


def _files(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**config, "files": str_list(config, "files")}


@rule("file_exists", keys={"files"}, validate=_files)
def files_exist(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    missing = [p for p in config["files"] if not any(tree.glob([p]))]
    if missing:
        return Outcome("fail", f"Missing: {', '.join(missing)}.")
    return Outcome("pass", f"Found {', '.join(config['files'])}.")


def _migrations(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "migrations": need_str(config, "migrations", default="**/migrations/*/"),
        "rollback": str_list(config, "rollback", required=False) or ["*rollback*.sql", "down.sql"],
    }


@rule("migrations_have_rollback", keys={"migrations", "rollback"}, validate=_migrations)
def migrations_have_rollback(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    migrations = [p for p in tree.glob([config["migrations"]]) if p.is_dir()]
    if not migrations:
        return Outcome("warn", f"No migration directories match {config['migrations']}.")
    lacking = [m.name for m in migrations if not any(tree.glob(config["rollback"], under=m))]
    have = len(migrations) - len(lacking)
    summary = f"{have} of {len(migrations)} migrations have rollback SQL"
    if lacking:
        return Outcome(
            "fail", f"{summary}; missing for {', '.join(lacking)}.", data={"missing": lacking}
        )
    return Outcome("pass", f"{summary}.")


def matching_lines(
    tree: SourceTree, patterns: list[str], matcher: Callable[[str], bool]
) -> list[str]:
    found = []
    for path in tree.glob(patterns):
        if not path.is_file():
            continue
        for number, line in enumerate(tree.read(path).splitlines(), start=1):
            if not line.lstrip().startswith("#") and matcher(line):
                found.append(f"{tree.relative(path)}:{number}: {line.strip()[:80]}")
    return found


def _forbid(config: Mapping[str, Any]) -> dict[str, Any]:
    try:
        re.compile(need_str(config, "pattern"))
    except re.error as exc:
        raise ConfigError("pattern", f"is not a regular expression: {exc}") from None
    return _files(config)


@rule("forbid_pattern", keys={"files", "pattern", "message"}, validate=_forbid)
def forbid_pattern(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    pattern = re.compile(config["pattern"])
    found = matching_lines(tree, config["files"], lambda line: pattern.search(line) is not None)
    if found:
        message = config.get("message") or f"Forbidden pattern {config['pattern']!r} found"
        return Outcome("fail", f"{message}: " + "; ".join(found[:10]))
    return Outcome("pass", f"No match for {config['pattern']!r}.")
