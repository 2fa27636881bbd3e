"""Dockerfile best practices, read with dockerfile-parse: a multi-stage build, a final stage that
runs as a non-root user, pinned base images and a HEALTHCHECK.

dockerfile-parse splits the file into instructions (line continuations, comments, the escape
directive); on top of it this module skips heredoc bodies (``RUN <<EOF … EOF``), which the parser
would read as instructions, substitutes build arguments the way ``docker build`` does with no
``--build-arg`` (their defaults), and follows stages built ``FROM`` an earlier stage, which
inherit its USER and HEALTHCHECK."""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from ...base import ConfigError, Outcome, str_list
from ..tree import Finding, SourceTree
from . import rule
from .compose import failed

PRACTICES = ("multi_stage", "non_root", "pinned", "healthcheck")
NAMES = "Dockerfile, *.Dockerfile, Dockerfile.*, Containerfile"
UNKNOWN = "\x00"  # stands for a build argument's value that the Dockerfile does not give
HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
VARIABLE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
# Base images whose default user is not root, so a final stage without USER is fine on them.
NON_ROOT_IMAGES = re.compile(
    r"(?:^gcr\.io/distroless/.*:(?:[\w.-]*-)?nonroot(?:@|$)|^cgr\.dev/chainguard/|"
    r"^(?:docker\.io/)?nginxinc/nginx-unprivileged[:@]|^(?:docker\.io/)?bitnami/|"
    r"^mcr\.microsoft\.com/dotnet/.*:[\w.-]*chiseled)"
)


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    files = str_list(config, "files", required=False)
    for pattern in files:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ConfigError("files", f"{pattern!r} must stay inside the tree")
    require = str_list(config, "require", required=False) or list(PRACTICES)
    unknown = sorted(set(require) - set(PRACTICES))
    if unknown:
        raise ConfigError(
            "require", f"unknown practice {unknown[0]!r}; choose from {', '.join(PRACTICES)}"
        )
    return {**config, "files": files, "require": require}


def is_dockerfile(name: str) -> bool:
    lower = name.lower()
    if lower.endswith(".dockerignore"):
        return False
    return any(
        lower == base or lower.endswith(f".{base}") or lower.startswith(f"{base}.")
        for base in ("dockerfile", "containerfile")
    )


@dataclass
class Stage:
    image: str  # as written
    resolved: str | None  # with build arguments substituted; None if one has no default
    unresolved: list[str]
    name: str | None
    line: int
    parent: Stage | None = None  # the earlier stage it is built FROM
    user: tuple[str, int] | None = None  # the last USER and its line
    healthcheck: tuple[str, int] | None = None
    args: dict[str, str | None] = field(default_factory=dict)

    def effective_user(self) -> tuple[str, int] | None:
        return self.user or (self.parent.effective_user() if self.parent else None)

    def effective_healthcheck(self) -> tuple[str, int] | None:
        return self.healthcheck or (self.parent.effective_healthcheck() if self.parent else None)

    def base_image(self) -> str | None:
        return self.parent.base_image() if self.parent else self.resolved


class DockerfileError(ValueError):
    pass


def parse(content: str) -> list[Stage]:
    content = content.removeprefix("\ufeff")  # editors on Windows start files with a BOM
    parser = DockerfileParser(fileobj=io.BytesIO(content.encode()))
    instructions = _without_heredocs(parser.structure, content.splitlines())
    global_args: dict[str, str | None] = {}
    causes: dict[str, list[str]] = {}  # an argument without value → the arguments it lacks
    stages: list[Stage] = []
    for instruction in instructions:
        kind, value, line = (
            instruction["instruction"],
            instruction["value"],
            instruction["startline"] + 1,
        )
        if kind == "FROM":
            stages.append(_stage(value, line, global_args, stages, causes))
        elif kind == "ARG":
            target = stages[-1].args if stages else global_args
            for name, default in _arguments(value):
                if default is None:
                    # ARG NAME inside a stage brings the global default back into scope.
                    target[name] = global_args.get(name) if stages else None
                    continue
                # A default may use the arguments declared before it.
                expanded, missing = _substitute(default, target)
                target[name] = None if missing else expanded
                if missing:
                    causes[name] = missing
        elif not stages:
            continue
        elif kind == "ENV":
            for name, default in _arguments(value):
                if default is not None:
                    stages[-1].args[name] = _substitute(default, stages[-1].args)[0]
        elif kind == "USER":
            user, unknown = _substitute(value, stages[-1].args)
            # A user from a build argument without a default is set at build time: not root here.
            stages[-1].user = ((value if unknown else user).strip(), line)
        elif kind == "HEALTHCHECK":
            stages[-1].healthcheck = (value.strip(), line)
    if not stages:
        raise DockerfileError("has no FROM instruction")
    return stages


def _without_heredocs(structure: list[dict[str, Any]], lines: list[str]) -> list[dict[str, Any]]:
    """The instructions, without the lines of heredoc bodies the parser reads as instructions."""
    skip_until = -1
    kept = []
    for instruction in structure:
        if instruction["startline"] <= skip_until or instruction["instruction"] == "COMMENT":
            continue
        kept.append(instruction)
        end = instruction["endline"]
        for strip_tabs, _, word in HEREDOC.findall(instruction["value"]):
            end += 1
            while end < len(lines):
                body = lines[end].lstrip("\t") if strip_tabs else lines[end]
                if body.rstrip() == word:
                    break
                end += 1
        skip_until = max(skip_until, end if end != instruction["endline"] else -1)
    return kept


def _arguments(value: str) -> list[tuple[str, str | None]]:
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    return [
        (name, default if sep else None)
        for name, sep, default in (word.partition("=") for word in words)
    ]


def _substitute(
    text: str, args: Mapping[str, str | None], *, unknown: str = ""
) -> tuple[str, list[str]]:
    """``text`` with $NAME, ${NAME}, ${NAME:-word}, ${NAME:+word} replaced; and the names that
    have no value (a build argument without a default)."""
    unresolved: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = args.get(name)
        operator, word = match.group(2), match.group(3) or ""
        if operator in (":-", "-"):
            return value if value or (operator == "-" and value is not None) else word
        if operator in (":+", "+"):
            return word if value or (operator == "+" and value is not None) else ""
        if value is None:
            unresolved.append(name)
            return unknown
        return value

    return VARIABLE.sub(replace, text), unresolved


def _stage(
    value: str,
    line: int,
    global_args: dict[str, str | None],
    stages: list[Stage],
    causes: Mapping[str, list[str]],
) -> Stage:
    words = [w for w in value.split() if not w.startswith("--")]
    if not words:
        raise DockerfileError(f"line {line}: FROM names no image")
    image = words[0]
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    resolved, unresolved = _substitute(image, global_args)
    unresolved = list(dict.fromkeys(c for n in unresolved for c in causes.get(n, [n])))
    if unresolved and pin(_substitute(image, global_args, unknown=UNKNOWN)[0]) != "unknown":
        unresolved = []  # only the registry or the name comes from the argument: the tag is set
        resolved = _substitute(image, global_args, unknown=UNKNOWN)[0].replace(UNKNOWN, "…")
    stage = Stage(image, None if unresolved else resolved, unresolved, name, line)
    for earlier in stages:
        if earlier.name and earlier.name.lower() == resolved.lower():
            stage.parent = earlier
    if resolved.isdigit() and int(resolved) < len(stages):
        stage.parent = stages[int(resolved)]
    return stage


def pin(reference: str) -> str:
    """``digest``, ``tag``, ``none`` (no tag, or ``latest``) or ``unknown`` (the tag comes from
    a build argument without a default)."""
    name, _, digest = reference.partition("@")
    if digest:
        return "unknown" if UNKNOWN in digest else "digest"
    last = name.rsplit("/", 1)[-1]
    base, _, tag = last.partition(":")
    if UNKNOWN in tag or (not tag and UNKNOWN in base):
        return "unknown"
    return "tag" if tag and tag != "latest" else "none"


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0", "")


@dataclass
class Judged:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def judge(name: str, stages: list[Stage], require: list[str]) -> Judged:
    judged = Judged()
    final = stages[-1]

    def missing(practice: str, line: int | None, message: str) -> None:
        if practice in require:
            judged.findings.append(Finding(name, line, message))

    if len(stages) < 2:
        missing("multi_stage", final.line, "single-stage build: build tools ship in the image")
    user = final.effective_user()
    base = final.base_image() or ""
    if user is None:
        if not NON_ROOT_IMAGES.search(base):
            missing("non_root", final.line, "the final stage sets no USER: it runs as root")
    elif _is_root(user[0]):
        missing(
            "non_root", user[1], f"the final stage runs as {user[0] or 'root'} (USER {user[0]})"
        )
    healthcheck = final.effective_healthcheck()
    if healthcheck is None:
        missing("healthcheck", final.line, "the final stage has no HEALTHCHECK")
    elif healthcheck[0].upper() == "NONE":
        missing("healthcheck", healthcheck[1], "HEALTHCHECK NONE disables the health check")
    tagged = []
    for stage in stages:
        if stage.parent is not None or stage.image.lower() == "scratch":
            continue
        if stage.resolved is None:
            args = ", ".join(stage.unresolved)
            missing(
                "pinned",
                stage.line,
                f"FROM {stage.image}: build argument {args} has no default, so the image is not pinned here",
            )
            continue
        kind = pin(stage.resolved)
        if kind == "none":
            missing(
                "pinned", stage.line, f"FROM {stage.resolved} is not pinned (no tag, or latest)"
            )
        elif kind == "tag" and stage.resolved not in tagged:
            tagged.append(stage.resolved)
    if tagged and "pinned" in require:
        judged.notes.append(
            f"{name}: {', '.join(tagged)} pinned by tag; a digest (image@sha256:…) is better, a tag can be moved"
        )
    return judged


def _dockerfiles(tree: SourceTree, config: Mapping[str, Any]) -> list[Path]:
    if config.get("files"):
        return tree.files(config["files"])
    return [p for p in tree.walk() if is_dockerfile(p.name)]


@rule("dockerfile_best_practices", keys={"files", "require"}, validate=_settings)
def dockerfile_best_practices(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    paths = _dockerfiles(tree, config)
    if not paths:
        where = ", ".join(config["files"]) if config.get("files") else NAMES
        return Outcome("fail", f"No Dockerfile in the tree ({where}).")
    require = config.get("require") or list(PRACTICES)
    findings: list[Finding] = []
    notes: list[str] = []
    unreadable: list[str] = []
    for path in paths:
        name = tree.relative(path)
        try:
            stages = parse(tree.read(path))
        except DockerfileError as exc:
            unreadable.append(f"{name} {exc}")
            continue
        judged = judge(name, stages, require)
        findings.extend(judged.findings)
        notes.extend(judged.notes)
    unread = f" Could not read: {'; '.join(unreadable)}." if unreadable else ""
    note = f" {'; '.join(notes)}." if notes else ""
    if findings:
        return failed("Dockerfile practices missing", findings, f"{unread}{note}")
    if unreadable:
        # docker build would refuse it too; a pass would be a guess.
        return Outcome("error", f"Could not read: {'; '.join(unreadable)}.")
    judged_names = ", ".join(tree.relative(p) for p in paths)
    practices = ", ".join(p.replace("_", "-") for p in require)
    return Outcome("pass", f"{judged_names}: {practices}.{note}")
