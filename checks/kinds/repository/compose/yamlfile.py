"""Compose YAML read with the line of every key and string, Compose's ``!reset`` and
``!override`` tags, and a bound on the work an alias-heavy file can cause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

# Aliases are shared, not copied, when a file loads; walking one expands it. A few thousand nodes
# is a large real Compose file; this bound stops a "billion laughs" file.
MAX_NODES = 200_000


class YamlError(ValueError):
    pass


class Str(str):
    """A string scalar that knows its line (1-based)."""

    line: int


class Map(dict[Any, Any]):
    """A mapping that knows its line and the line of each key."""

    line: int
    key_lines: dict[Any, int]


@dataclass(frozen=True)
class Reset:
    """``!reset``: the key is removed from what the files before this one set."""


@dataclass(frozen=True)
class Override:
    """``!override``: the value replaces what the files before this one set, unmerged."""

    value: Any


class _Loader(yaml.SafeLoader):
    pass


def _string(loader: _Loader, node: yaml.ScalarNode) -> Str:
    value = Str(loader.construct_scalar(node))
    value.line = node.start_mark.line + 1
    return value


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    result = Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _reset(loader: _Loader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: _Loader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(_mapping(loader, node))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(_string(loader, node))  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:str", _string)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def load(content: str) -> Any:
    """The document, or YamlError with the line of the problem."""
    try:
        document = yaml.load(content, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise YamlError(f"{where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)) from None
    _count_nodes(document)
    return document


def _count_nodes(document: Any) -> None:
    seen = 0
    stack = [document]
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise YamlError(f"more than {MAX_NODES} values once aliases are expanded")
        if isinstance(value, Override):
            stack.append(value.value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def line_of(container: Any, key: Any) -> int | None:
    """The line of ``key`` in a mapping, or of the mapping itself."""
    if isinstance(container, Map):
        return container.key_lines.get(key, container.line)
    return None
