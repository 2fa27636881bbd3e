"""YAML that remembers where things are: mappings and lists carry the line they start on and the
line of each key or item, so a rule can name file:line for what it finds.

Safe loading only. Tags that some tools add to their own YAML (GitLab's ``!reference``, Azure's
``!!``-less template expressions are plain strings anyway) load as their plain value instead of
failing the whole file."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from typing import Any

import yaml


class YamlMap(dict[Any, Any]):
    """A mapping with ``line`` (where it starts) and ``key_lines`` (where each key is)."""

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A sequence with ``line`` and ``item_lines``."""

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class Tagged(YamlList):
    """A sequence under a tool's own tag, e.g. GitLab's ``!reference [.setup, script]``."""

    tag = ""


class _Loader(yaml.SafeLoader):
    pass


# CI tools read YAML 1.2, where only true/false are booleans: GitHub's `on:` is a key, not True.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _map(loader: _Loader, node: yaml.MappingNode) -> Iterator[YamlMap]:
    data = YamlMap()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults), common in CI files
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            key = str(key)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1  # an explicit key overrides a merged one


def _list(loader: _Loader, node: yaml.SequenceNode) -> Iterator[YamlList]:
    data = YamlList()
    data.line = node.start_mark.line + 1
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_object(item, deep=True) for item in node.value)


def _any_tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        tagged = Tagged()
        tagged.tag = suffix
        tagged.line = node.start_mark.line + 1
        tagged.extend(loader.construct_object(item, deep=True) for item in node.value)
        return tagged
    if isinstance(node, yaml.MappingNode):
        build = _map(loader, node)
        data = next(build)
        for _ in build:  # the rest of the generator fills it in
            pass
        return data
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _list)
_Loader.add_multi_constructor("!", _any_tag)


def load(text: str) -> Any:
    """The first document of ``text`` (``None`` when it is empty); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_Loader))


def error_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def error_text(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"not valid YAML ({problem})"
