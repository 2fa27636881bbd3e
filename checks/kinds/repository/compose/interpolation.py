"""Compose's variable interpolation (``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+replacement}``, ``${VAR+replacement}``, ``$$``), as the
Compose specification and compose-go define it.

A value is returned as pieces that remember where their text came from, because the secret rules
must tell a literal written in the repository (in the Compose file or in a committed ``.env``) from
a value the deployer supplies: a piece with no ``origin`` is supplied at deploy time."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """The text is not a valid Compose template (Compose itself refuses it)."""


@dataclass(frozen=True)
class Origin:
    """Where a literal was written: a file of the tree and the line."""

    file: str
    line: int | None


@dataclass(frozen=True)
class Piece:
    text: str
    origin: Origin | None  # None: supplied when the project is deployed

    @property
    def literal(self) -> bool:
        return self.origin is not None


# A variable's value: its pieces, or None when it is not set in the tree.
Lookup = Callable[[str], list[Piece] | None]


def text(pieces: list[Piece]) -> str:
    return "".join(piece.text for piece in pieces)


def interpolate(template: str, origin: Origin, lookup: Lookup) -> list[Piece]:
    pieces: list[Piece] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            pieces.append(Piece("".join(literal), origin))
            literal.clear()

    i = 0
    while i < len(template):
        char = template[i]
        if char != "$":
            literal.append(char)
            i += 1
            continue
        following = template[i + 1 : i + 2]
        if following == "$":
            literal.append("$")
            i += 2
            continue
        if following == "{":
            end = _closing_brace(template, i + 2)
            if end < 0:
                raise InterpolationError(f"unclosed ${{ in {template!r}")
            flush()
            pieces.extend(_braced(template[i + 2 : end], template, origin, lookup))
            i = end + 1
            continue
        named = NAME.match(template, i + 1)
        if not named:
            raise InterpolationError(f"invalid interpolation format in {template!r}")
        flush()
        pieces.extend(_value(named.group(), lookup))
        i = named.end()
    flush()
    return pieces


def _closing_brace(template: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(template):
        if template.startswith("${", i):
            depth += 1
            i += 2
            continue
        if template[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _value(name: str, lookup: Lookup) -> list[Piece]:
    value = lookup(name)
    # An unset variable is empty for Compose (with a warning): its value comes at deploy time.
    return value if value is not None else [Piece("", None)]


def _braced(body: str, template: str, origin: Origin, lookup: Lookup) -> list[Piece]:
    named = NAME.match(body)
    if not named:
        raise InterpolationError(f"invalid interpolation format in {template!r}")
    name, rest = named.group(), body[named.end() :]
    if not rest:
        return _value(name, lookup)
    operator = next((op for op in OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise InterpolationError(f"invalid interpolation format in {template!r}")
    word = rest[len(operator) :]
    value = lookup(name)
    is_set = value is not None
    non_empty = is_set and text(value or []) != ""
    if operator in (":-", "-"):
        use_default = not non_empty if operator == ":-" else not is_set
        return interpolate(word, origin, lookup) if use_default else (value or [])
    if operator in (":+", "+"):
        use_word = non_empty if operator == ":+" else is_set
        return interpolate(word, origin, lookup) if use_word else [Piece("", None)]
    # ${VAR:?error}: the deployer must set it; the tree not setting it is not an error here.
    required = non_empty if operator == ":?" else is_set
    return (value or []) if required else [Piece("", None)]
