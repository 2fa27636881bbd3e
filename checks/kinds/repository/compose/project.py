"""A Compose project as Compose builds it from a directory: which files it reads, the ``.env``
it interpolates them with, and the services once the files are merged, ``extends`` resolved and
``include`` folded in.

Discovery follows compose-go: the first of ``compose.yaml``, ``compose.yml``,
``docker-compose.yml``, ``docker-compose.yaml`` in the directory, then the first of the matching
override names — unless the ``.env`` sets ``COMPOSE_FILE``, which then names the files. Only the
tree's own ``.env`` is used for interpolation: Preflight's environment is never read."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..tree import SourceTree
from . import dotenv, yamlfile
from .interpolation import InterpolationError, Lookup, Origin, Piece, interpolate, text

BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
MAX_FILES_PER_PROJECT = 50  # includes and extends followed from one project
# Lists Compose replaces instead of appending when a later file sets them.
REPLACED = {("command",), ("entrypoint",), ("healthcheck", "test")}


class ComposeError(ValueError):
    """A file Compose itself would refuse, named by its path in the tree."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


@dataclass
class ComposeFile:
    path: Path
    name: str  # relative to the tree's root
    document: dict[str, Any]
    env: dict[str, dotenv.Entry]  # the variables its values are interpolated with
    env_name: str  # the .env (or include env_file) they came from, "" if none


@dataclass
class Service:
    name: str
    config: dict[str, Any]  # interpolated and merged
    file: str
    line: int | None


@dataclass
class Project:
    directory: Path
    files: list[ComposeFile]  # the files named for the project, in merge order
    env: dict[str, dotenv.Entry]
    env_name: str
    services: dict[str, Service] = field(default_factory=dict)
    referenced: list[ComposeFile] = field(default_factory=list)  # included and extended files

    @property
    def names(self) -> str:
        return " + ".join(f.name for f in self.files)

    def all_files(self) -> list[ComposeFile]:
        return self.files + self.referenced


def default_files(tree: SourceTree, directory: Path) -> list[Path]:
    """The files ``docker compose`` would read in ``directory`` with no ``-f``."""
    env, _ = read_env(tree, directory)
    listed = env.get("COMPOSE_FILE")
    if listed and listed.value:
        separator = (
            env.get("COMPOSE_PATH_SEPARATOR") or dotenv.Entry("", [Piece(":", None)], 0)
        ).value
        return [directory / part for part in listed.value.split(separator or ":") if part]
    base = next((directory / n for n in BASE_NAMES if (directory / n).is_file()), None)
    if base is None:
        return []
    override = next((directory / n for n in OVERRIDE_NAMES if (directory / n).is_file()), None)
    return [base, override] if override else [base]


def read_env(tree: SourceTree, directory: Path) -> tuple[dict[str, dotenv.Entry], str]:
    path = directory / ".env"
    if not path.is_file() or not tree.contains(path):
        return {}, ""
    name = tree.relative(path)
    try:
        return dotenv.parse(tree.read(path), name), name
    except dotenv.DotenvError as exc:
        raise ComposeError(name, str(exc)) from None


def load(tree: SourceTree, paths: list[Path]) -> Project:
    """The project made of ``paths`` (in ``-f`` order); raises ComposeError."""
    directory = paths[0].parent
    env, env_name = read_env(tree, directory)
    project = Project(directory, [], env, env_name)
    loader = _Loader(tree, project)
    merged: dict[str, Any] = {}
    for path in paths:
        compose_file = loader.read(path, env, env_name)
        project.files.append(compose_file)
        merged = merge(merged, loader.interpolated(compose_file), ())
    merged = strip(merged)
    services = merged.get("services")
    if services is not None and not isinstance(services, dict):
        raise ComposeError(project.files[0].name, "services must be a mapping")
    resolved = {
        name: loader.extended(name, services or {}, _declaring(project.files, name), [])
        for name in services or {}
    }
    for name, config in resolved.items():
        file, line = _defined_at(project.files, name)
        project.services[name] = Service(name, config, file, line)
    for name, service in loader.included(merged, project.files[0]).items():
        project.services.setdefault(name, service)
    return project


def active(service: Service, profiles: frozenset[str]) -> bool:
    """A service with profiles runs only when one of them is enabled."""
    own = service.config.get("profiles") or []
    return not own or bool(set(map(str, own)) & profiles)


def enabled_profiles(project: Project, extra: list[str]) -> frozenset[str]:
    from_env = project.env.get("COMPOSE_PROFILES")
    names = [p.strip() for p in from_env.value.split(",")] if from_env else []
    return frozenset(p for p in [*names, *extra] if p)


def _declaring(files: list[ComposeFile], name: str) -> ComposeFile:
    """The last file that gives the service an ``extends`` (its ``file:`` is relative to it)."""
    for compose_file in reversed(files):
        services = compose_file.document.get("services")
        service = services.get(name) if isinstance(services, dict) else None
        if isinstance(service, dict) and "extends" in service:
            return compose_file
    return files[-1]


def _defined_at(files: list[ComposeFile], name: str) -> tuple[str, int | None]:
    for compose_file in files:
        services = compose_file.document.get("services")
        if isinstance(services, dict) and name in services:
            return compose_file.name, yamlfile.line_of(services, name)
    return files[0].name, None


class _Loader:
    def __init__(self, tree: SourceTree, project: Project) -> None:
        self.tree = tree
        self.project = project
        self.cache: dict[Path, ComposeFile] = {}

    def read(self, path: Path, env: dict[str, dotenv.Entry], env_name: str) -> ComposeFile:
        resolved = path.resolve()
        if resolved in self.cache:
            return self.cache[resolved]
        name = self._name(path)
        if not path.is_file():
            raise ComposeError(name, "no such file")
        if len(self.cache) >= MAX_FILES_PER_PROJECT:
            raise ComposeError(
                name, f"more than {MAX_FILES_PER_PROJECT} files included or extended"
            )
        try:
            document = yamlfile.load(self.tree.read(path))
        except yamlfile.YamlError as exc:
            raise ComposeError(name, f"is not valid YAML: {exc}") from None
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise ComposeError(name, "is not a Compose file (the top level must be a mapping)")
        compose_file = ComposeFile(path, name, document, env, env_name)
        self.cache[resolved] = compose_file
        return compose_file

    def _name(self, path: Path) -> str:
        if not self.tree.contains(path):
            raise ComposeError(str(PurePosixPath(path.name)), "leads outside the source tree")
        return self.tree.relative(path)

    def interpolated(self, compose_file: ComposeFile) -> Any:
        try:
            return interpolate_all(compose_file.document, compose_file)
        except InterpolationError as exc:
            raise ComposeError(compose_file.name, str(exc)) from None

    def referenced(self, path: Path, env: dict[str, dotenv.Entry], env_name: str) -> ComposeFile:
        compose_file = self.read(path, env, env_name)
        known = self.project.files + self.project.referenced
        if not any(compose_file is other for other in known):
            self.project.referenced.append(compose_file)
        return compose_file

    def extended(
        self, name: str, services: dict[str, Any], origin: ComposeFile, chain: list[str]
    ) -> dict[str, Any]:
        """The service with its ``extends`` chain merged in, as Compose resolves it."""
        config = services.get(name)
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ComposeError(origin.name, f"service {name} must be a mapping")
        extends = config.get("extends")
        if not extends:
            return config
        key = f"{origin.name}:{name}"
        if key in chain:
            raise ComposeError(
                origin.name, f"service {name} extends itself through {' → '.join(chain)}"
            )
        if isinstance(extends, str):
            base_name, base_file = extends, None
        elif isinstance(extends, dict) and isinstance(extends.get("service"), str):
            base_name, base_file = extends["service"], extends.get("file")
        else:
            raise ComposeError(origin.name, f"service {name}: extends needs a service")
        if base_file:
            other = self.referenced(
                origin.path.parent / str(base_file), origin.env, origin.env_name
            )
            base_services = strip(self.interpolated(other)).get("services") or {}
            base_origin = other
        else:
            base_services, base_origin = services, origin
        if base_name not in base_services:
            raise ComposeError(origin.name, f"service {name} extends unknown service {base_name}")
        base = self.extended(base_name, base_services, base_origin, [*chain, key])
        own = {k: v for k, v in config.items() if k != "extends"}
        return strip(merge(copy.deepcopy(base), own, ()))

    def included(self, merged: dict[str, Any], origin: ComposeFile) -> dict[str, Service]:
        """Services from the top-level ``include`` entries (each its own project)."""
        found: dict[str, Service] = {}
        for entry in merged.get("include") or []:
            paths, env_files, directory = _include_entry(entry, origin.path.parent)
            if not paths:
                raise ComposeError(origin.name, "an include entry needs a path")
            env, env_name = self._include_env(env_files, directory)
            merged_include: dict[str, Any] = {}
            files = [self.referenced(p, env, env_name) for p in paths]
            for compose_file in files:
                merged_include = merge(merged_include, self.interpolated(compose_file), ())
            merged_include = strip(merged_include)
            services = merged_include.get("services") or {}
            for name in services:
                file, line = _defined_at(files, name)
                config = self.extended(name, services, files[-1], [])
                found[name] = Service(name, config, file, line)
            for name, service in self.included(merged_include, files[0]).items():
                found.setdefault(name, service)
        return found

    def _include_env(
        self, env_files: list[Path], directory: Path
    ) -> tuple[dict[str, dotenv.Entry], str]:
        if not env_files:
            return read_env(self.tree, directory)
        env: dict[str, dotenv.Entry] = {}
        names = []
        for path in env_files:
            if path.is_file() and self.tree.contains(path):
                name = self.tree.relative(path)
                try:
                    env.update(dotenv.parse(self.tree.read(path), name))
                except dotenv.DotenvError as exc:
                    raise ComposeError(name, str(exc)) from None
                names.append(name)
        return env, ", ".join(names)


def _include_entry(entry: Any, base: Path) -> tuple[list[Path], list[Path], Path]:
    if isinstance(entry, str):
        path = base / entry
        return [path], [], path.parent
    if not isinstance(entry, dict):
        return [], [], base
    raw_paths = entry.get("path")
    paths = [
        base / str(p) for p in ([raw_paths] if isinstance(raw_paths, str) else raw_paths or [])
    ]
    raw_env = entry.get("env_file")
    env_files = [base / str(p) for p in ([raw_env] if isinstance(raw_env, str) else raw_env or [])]
    directory = (
        base / str(entry["project_directory"])
        if entry.get("project_directory")
        else (paths[0].parent if paths else base)
    )
    return paths, env_files, directory


def lookup_in(env: dict[str, dotenv.Entry]) -> Lookup:
    def lookup(name: str) -> list[Piece] | None:
        entry = env.get(name)
        return entry.pieces if entry else None

    return lookup


def interpolate_value(value: str, line: int | None, compose_file: ComposeFile) -> list[Piece]:
    """The pieces of one string of ``compose_file``; raises InterpolationError."""
    return interpolate(value, Origin(compose_file.name, line), lookup_in(compose_file.env))


def interpolate_all(value: Any, compose_file: ComposeFile) -> Any:
    """A copy of ``value`` with every string interpolated (keys stay as written)."""
    if isinstance(value, yamlfile.Override):
        return yamlfile.Override(interpolate_all(value.value, compose_file))
    if isinstance(value, dict):
        return {k: interpolate_all(v, compose_file) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_all(v, compose_file) for v in value]
    if isinstance(value, str):
        return text(interpolate_value(value, getattr(value, "line", None), compose_file))
    return value


def merge(base: Any, other: Any, path: tuple[str, ...]) -> Any:
    """``other`` laid over ``base`` with Compose's merge rules: mappings merge key by key, lists
    append (``command``, ``entrypoint`` and ``healthcheck.test`` are replaced), ``environment``
    merges by variable, scalars are replaced; ``!reset`` removes and ``!override`` replaces."""
    if isinstance(other, yamlfile.Reset | yamlfile.Override):
        return other
    service_path = path[2:] if len(path) >= 2 and path[0] == "services" else None
    if service_path in REPLACED:
        return other
    if service_path == ("environment",) or (service_path == ("build", "args")):
        return {**as_mapping(base), **as_mapping(other)}
    if isinstance(base, dict) and isinstance(other, dict):
        result = dict(base)
        for key, value in other.items():
            if key in result and not str(key).startswith("x-"):
                result[key] = merge(result[key], value, (*path, str(key)))
            else:
                result[key] = value
        return result
    if isinstance(base, list) and isinstance(other, list):
        return base + [item for item in other if item not in base]
    return other


def strip(value: Any) -> Any:
    """The value with ``!reset`` keys removed and ``!override`` unwrapped."""
    if isinstance(value, yamlfile.Override):
        return strip(value.value)
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not isinstance(v, yamlfile.Reset)}
    if isinstance(value, list):
        return [strip(v) for v in value if not isinstance(v, yamlfile.Reset)]
    return None if isinstance(value, yamlfile.Reset) else value


def as_mapping(value: Any) -> dict[str, Any]:
    """``environment`` / ``args`` in either syntax as a mapping (``KEY`` alone maps to None)."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for item in value:
            key, sep, rest = str(item).partition("=")
            result[key] = rest if sep else None
        return result
    return {}


def iter_mapping_items(value: Any) -> Iterator[tuple[str, Any, int | None]]:
    """``(key, value, line)`` of ``environment`` / ``args`` in either syntax, as written."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item, yamlfile.line_of(value, key)
    elif isinstance(value, list):
        for item in value:
            key, sep, rest = str(item).partition("=")
            line = getattr(item, "line", None)
            if sep:
                literal = yamlfile.Str(rest)
                literal.line = line  # type: ignore[assignment]
                yield key, literal, line
            else:
                yield key, None, line
