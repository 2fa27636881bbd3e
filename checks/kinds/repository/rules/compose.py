"""Rules about Docker Compose files, read as Compose reads them (see ``compose/project.py``):
every name Compose accepts, its override file, the ``.env`` beside them interpolated, ``extends``
and ``include`` followed, the files merged."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ...base import ConfigError, Outcome, need_str, str_list
from .. import credentials
from ..compose import dotenv, project
from ..compose.interpolation import InterpolationError, Origin, Piece, text
from ..tree import Finding, RuleOutcome, SourceTree, judged
from . import rule

# Files beside the default ones that are meant for ``-f`` (docker-compose.prod.yml, …): the secret
# rule reads them too, since a literal secret in any of them is in the repository.
VARIANTS = ("compose.*.yaml", "compose.*.yml", "docker-compose.*.yaml", "docker-compose.*.yml")
NAMES = ", ".join(project.BASE_NAMES)
# Options of a command that take a secret: --requirepass x, --password=x, --api-token x.
SECRET_OPTION = re.compile(
    r"^--?(?:requirepass|[\w-]*(?:password|passwd|secret|token|api-?key))$", re.I
)


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    clean = dict(config)
    if "file" in config:
        file = need_str(config, "file")
        if Path(file).is_absolute() or ".." in Path(file).parts:
            raise ConfigError("file", f"{file!r} must stay inside the tree")
    recursive = config.get("recursive", False)
    if not isinstance(recursive, bool):
        raise ConfigError("recursive", "must be true or false")
    if recursive and "file" in config:
        raise ConfigError("recursive", "names no file: leave out either file or recursive")
    clean["recursive"] = recursive
    # Only when given: an empty list would not pass this validation again on re-import.
    if profiles := str_list(config, "profiles", required=False):
        clean["profiles"] = profiles
    else:
        clean.pop("profiles", None)
    return clean


@dataclass
class Judgement:
    """What a rule found over the projects it read."""

    findings: list[Finding] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    projects: list[project.Project] = field(default_factory=list)

    def outcome(self, failing: str, passing: str) -> Outcome:
        unreadable = f" Could not read: {'; '.join(self.unreadable)}." if self.unreadable else ""
        if self.findings:
            return failed(failing, self.findings, unreadable)
        if self.unreadable:
            # Compose refuses such a file too: it cannot be judged, and a pass would be a guess.
            return Outcome("error", f"Could not read: {'; '.join(self.unreadable)}.")
        return Outcome("pass", passing)


def failed(summary: str, findings: list[Finding], extra: str = "") -> RuleOutcome:
    """A failing outcome listing the first findings (all of them are kept, for evaluate_tree and
    in the data), with ``extra`` sentences after them."""
    data = {"findings": [{"file": f.file, "line": f.line, "message": f.message} for f in findings]}
    outcome = judged("fail", summary, findings, data=data)
    return replace(outcome, detail=outcome.detail + extra) if extra else outcome


def _project_files(tree: SourceTree, config: Mapping[str, Any]) -> list[list[Path]]:
    if config.get("file"):
        path = tree.root / config["file"]
        return [[path]] if path.is_file() else []
    directories = tree.directories() if config.get("recursive") else [tree.root]
    found = []
    for directory in directories:
        try:
            files = project.default_files(tree, directory)
        except project.ComposeError:
            # A broken .env beside a Compose file: loading the project reports it.
            has_compose = any((directory / n).is_file() for n in project.BASE_NAMES)
            files = [directory / project.BASE_NAMES[0]] if has_compose else []
        if files:
            found.append(files)
    return found


def _load(tree: SourceTree, config: Mapping[str, Any], judgement: Judgement) -> None:
    for paths in _project_files(tree, config):
        try:
            judgement.projects.append(project.load(tree, paths))
        except project.ComposeError as exc:
            judgement.unreadable.append(str(exc))


def _missing(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    if config.get("file"):
        return Outcome("fail", f"No {config['file']} in the tree.")
    where = "in the tree" if config.get("recursive") else "at the top of the tree"
    return Outcome("fail", f"No Compose file ({NAMES}) {where}.")


def _all(count: int) -> str:
    return "The one service" if count == 1 else f"All {count} services"


def _names(judgement: Judgement) -> str:
    return "; ".join(p.names for p in judgement.projects)


@rule("compose_resource_limits", keys={"file", "recursive", "profiles"}, validate=_settings)
def compose_resource_limits(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    judgement = Judgement()
    _load(tree, config, judgement)
    if not judgement.projects and not judgement.unreadable:
        return _missing(tree, config)
    judged, inactive = 0, []
    for compose in judgement.projects:
        profiles = project.enabled_profiles(compose, config.get("profiles") or [])
        for service in compose.services.values():
            if not project.active(service, profiles):
                inactive.append(service.name)
                continue
            judged += 1
            has_cpu, has_memory = _limits(service.config)
            if not (has_cpu and has_memory):
                what = " and ".join(
                    w for w, ok in (("CPU", has_cpu), ("memory", has_memory)) if not ok
                )
                judgement.findings.append(
                    Finding(service.file, service.line, f"{service.name} (no {what} limit)")
                )
    if not judged and not judgement.findings and not judgement.unreadable:
        return Outcome("fail", f"{_names(judgement)} defines no services that run by default.")
    skipped = (
        f" Not judged, behind profiles not enabled: {', '.join(sorted(inactive))}."
        if inactive
        else ""
    )
    outcome = judgement.outcome(
        "Services without resource limits",
        f"{_all(judged)} of {_names(judgement)} {'has' if judged == 1 else 'have'} CPU and memory limits.{skipped}",
    )
    if outcome.status == "fail" and skipped:
        return replace(outcome, detail=outcome.detail + skipped)
    return outcome


def _limits(service: Mapping[str, Any]) -> tuple[bool, bool]:
    limits = _mapping(_mapping(_mapping(service.get("deploy")).get("resources")).get("limits"))
    cpuset = service.get("cpuset")  # pinned to some cores: bounded too
    cpu = (limits.get("cpus"), service.get("cpus"), service.get("cpu_quota"), 1 if cpuset else None)
    memory = (limits.get("memory"), service.get("mem_limit"))
    return any(map(_is_limit, cpu)), any(map(_is_limit, memory))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_limit(value: Any) -> bool:
    """A set, positive amount: Docker reads 0 (and -1 for memory) as no limit at all."""
    if value is None or isinstance(value, bool):
        return False
    number = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(value))
    return number is not None and float(number.group(1)) > 0


@rule("compose_no_plaintext_secrets", keys={"file", "recursive", "profiles"}, validate=_settings)
def compose_no_plaintext_secrets(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    judgement = Judgement()
    _load(tree, config, judgement)
    if not config.get("file"):
        _load_variants(tree, judgement)
    if not judgement.projects and not judgement.unreadable:
        return _missing(tree, config)
    seen: set[str] = set()
    services = 0
    for compose in judgement.projects:
        for compose_file in compose.all_files():
            if compose_file.name in seen:
                continue
            seen.add(compose_file.name)
            try:
                services += _secrets_in(tree, compose_file, judgement.findings)
            except InterpolationError as exc:
                judgement.unreadable.append(f"{compose_file.name}: {exc}")
            except project.ComposeError as exc:
                judgement.unreadable.append(str(exc))
    judgement.findings.sort(key=lambda f: (f.file, f.line or 0))
    return judgement.outcome(
        "Plaintext secrets in Compose configuration",
        f"No plaintext secrets in {', '.join(sorted(seen))} ({services} service{'' if services == 1 else 's'}).",
    )


def _load_variants(tree: SourceTree, judgement: Judgement) -> None:
    loaded = {f.path.resolve() for p in judgement.projects for f in p.all_files()}
    directories = {p.directory for p in judgement.projects} or {tree.root}
    for directory in sorted(directories):
        names = [*project.BASE_NAMES, *project.OVERRIDE_NAMES]
        candidates = [directory / n for n in names] + [
            p for pattern in VARIANTS for p in sorted(directory.glob(pattern))
        ]
        for path in candidates:
            if path.is_file() and tree.contains(path) and path.resolve() not in loaded:
                loaded.add(path.resolve())
                try:
                    judgement.projects.append(project.load(tree, [path]))
                except project.ComposeError as exc:
                    judgement.unreadable.append(str(exc))


def _secrets_in(
    tree: SourceTree, compose_file: project.ComposeFile, findings: list[Finding]
) -> int:
    services = compose_file.document.get("services")
    if not isinstance(services, dict):
        return 0
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        for key, value, line in project.iter_mapping_items(service.get("environment")):
            _judge_setting(compose_file, f"{name}: {key}", key, value, line, findings)
        build = service.get("build")
        if isinstance(build, dict):
            for key, value, line in project.iter_mapping_items(build.get("args")):
                _judge_setting(compose_file, f"{name}: build arg {key}", key, value, line, findings)
        for env_path in _env_files(service.get("env_file"), compose_file.path.parent):
            _judge_env_file(tree, compose_file, name, env_path, findings)
        for key in ("command", "entrypoint"):
            _judge_command(compose_file, f"{name}: {key}", service.get(key), findings)
        healthcheck = service.get("healthcheck")
        if isinstance(healthcheck, dict):
            _judge_command(compose_file, f"{name}: healthcheck", healthcheck.get("test"), findings)
    return len(services)


def _pieces(value: Any, line: int | None, compose_file: project.ComposeFile) -> list[Piece]:
    if isinstance(value, str):
        return project.interpolate_value(value, getattr(value, "line", line), compose_file)
    return [
        Piece(
            str(value).lower() if isinstance(value, bool) else str(value),
            Origin(compose_file.name, line),
        )
    ]


def _judge_setting(
    compose_file: project.ComposeFile,
    what: str,
    key: str,
    value: Any,
    line: int | None,
    findings: list[Finding],
) -> None:
    if value is None or isinstance(value, dict | list):
        return  # a bare KEY takes the deployer's value
    pieces = _pieces(value, line, compose_file)
    findings.extend(_judge_pieces(what, key, pieces, Origin(compose_file.name, line)))


def _judge_pieces(what: str, key: str, pieces: list[Piece], written: Origin) -> Iterator[Finding]:
    """Findings for one setting: a password in a connection URL, or a literal secret."""
    value = text(pieces)
    spans = credentials.url_passwords(value)
    if spans:
        for span in spans:
            origin = _origin_at(pieces, span.start)
            yield _finding(
                origin,
                written,
                f"{what} has a password in its connection URL ({credentials.masked_url(value)})",
            )
        return
    # A value the deployer supplies, even in part (``Bearer ${TOKEN}``), is not written here.
    if any(p.origin is None for p in pieces) or not credentials.plaintext(key, value):
        return
    origin = next(p.origin for p in pieces if p.origin is not None and p.text)
    yield _finding(origin, written, f"{what} is set to a literal value ({credentials.mask(value)})")


def _origin_at(pieces: list[Piece], index: int) -> Origin | None:
    position = 0
    for piece in pieces:
        if position <= index < position + len(piece.text):
            return piece.origin
        position += len(piece.text)
    return None


def _finding(origin: Origin | None, written: Origin, message: str) -> Finding:
    """The finding at the literal's place; a literal from ``.env`` also names the setting."""
    if origin is None or (origin.file == written.file and origin.line == written.line):
        return Finding(written.file, written.line, message)
    if origin.file == written.file:
        return Finding(origin.file, origin.line, message)
    where = f"{written.file}:{written.line}" if written.line else written.file
    return Finding(origin.file, origin.line, f"{message}, used at {where}")


def _env_files(value: Any, base: Path) -> Iterator[Path]:
    entries = value if isinstance(value, list) else [value] if value else []
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else entry
        if isinstance(path, str) and path:
            yield base / path


def _judge_env_file(
    tree: SourceTree,
    compose_file: project.ComposeFile,
    service: str,
    path: Path,
    findings: list[Finding],
) -> None:
    # A missing env_file is the usual way to keep secrets out of the repository: the deploy
    # provides it. One that is in the tree is committed configuration.
    if not path.is_file() or not tree.contains(path):
        return
    name = tree.relative(path)
    try:
        entries = dotenv.parse(tree.read(path), name, project.lookup_in(compose_file.env))
    except dotenv.DotenvError as exc:
        raise project.ComposeError(name, str(exc)) from None
    for entry in entries.values():
        written = Origin(name, entry.line)
        what = f"{service}: {entry.name} (env_file {PurePosixPath(name).name})"
        findings.extend(_judge_pieces(what, entry.name, entry.pieces, written))


def _judge_command(
    compose_file: project.ComposeFile, what: str, value: Any, findings: list[Finding]
) -> None:
    """Passwords on a command line: ``redis-server --requirepass x``, a URL with a password."""
    strings = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    items: list[tuple[str, int | None]] = []
    for item in strings:
        if not isinstance(item, str):
            continue
        line = getattr(item, "line", None)
        command = text(project.interpolate_value(item, line, compose_file))
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        items.extend((word, line) for word in words)
    for i, (word, line) in enumerate(items):
        written = Origin(compose_file.name, line)
        if credentials.url_passwords(word):
            findings.append(
                Finding(
                    written.file,
                    written.line,
                    f"{what} has a password in a connection URL ({credentials.masked_url(word)})",
                )
            )
            continue
        option, sep, inline = word.partition("=")
        if not SECRET_OPTION.match(option):
            continue
        secret = inline if sep else (items[i + 1][0] if i + 1 < len(items) else "")
        if credentials.looks_like_credential(secret) and not secret.startswith("-"):
            findings.append(
                Finding(
                    written.file,
                    written.line,
                    f"{what} passes {option} a literal value ({credentials.mask(secret)})",
                )
            )
