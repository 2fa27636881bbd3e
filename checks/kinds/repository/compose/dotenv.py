"""``.env`` and ``env_file`` files read the way Compose reads them: ``KEY=value`` or ``KEY: value``,
an optional ``export``, ``#`` comments (inline only after a space on unquoted values), single
quotes literal, double quotes with escapes and interpolation (also across lines), unquoted values
interpolated against the variables above them. A bare ``KEY`` takes the value from the deployer's
environment, which Preflight never reads: it stays unset."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .interpolation import InterpolationError, Lookup, Origin, Piece, interpolate

KEY = re.compile(r"[A-Za-z0-9_.\-\[\]]+")
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$$"}


class DotenvError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Entry:
    name: str
    pieces: list[Piece]
    line: int

    @property
    def value(self) -> str:
        return "".join(piece.text for piece in self.pieces)


def parse(content: str, file: str, outer: Lookup | None = None) -> dict[str, Entry]:
    """The entries of a file; ``outer`` resolves variables the file does not set itself (an
    ``env_file`` is interpolated with the project's ``.env``)."""
    entries: dict[str, Entry] = {}
    lines = content.splitlines()
    number = 0
    while number < len(lines):
        start = number + 1
        line = lines[number].strip()
        number += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key = KEY.match(line)
        rest = line[key.end() :].lstrip() if key else line
        if not key or (rest and rest[0] not in "=:"):
            raise DotenvError(start, f"unexpected text {line[:40]!r}")
        if not rest:
            continue  # a bare KEY: from the deployer's environment
        raw = rest[1:].lstrip()
        quote = raw[:1]
        if quote in ("'", '"'):
            body, number = _quoted(raw, quote, lines, number, start)
            if quote == "'":
                entries[key.group()] = Entry(key.group(), [Piece(body, Origin(file, start))], start)
                continue
            template = re.sub(r"\\(.)", lambda m: ESCAPES.get(m[1], m[0]), body)
        else:
            template = raw.split(" #", 1)[0].rstrip()
        try:
            pieces = interpolate(template, Origin(file, start), _lookup(entries, outer))
        except InterpolationError as exc:
            raise DotenvError(start, str(exc)) from None
        entries[key.group()] = Entry(key.group(), pieces, start)
    return entries


def _quoted(raw: str, quote: str, lines: list[str], number: int, start: int) -> tuple[str, int]:
    """The body of a quoted value, which may go on over the following lines."""
    text = raw[1:]
    while True:
        end = _closing_quote(text, quote)
        if end >= 0:
            return text[:end].replace("\\" + quote, quote) if quote == "'" else text[:end], number
        if number >= len(lines):
            raise DotenvError(start, "unterminated quoted value")
        text += "\n" + lines[number]
        number += 1


def _closing_quote(text: str, quote: str) -> int:
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == quote:
            return i
    return -1


def _lookup(entries: dict[str, Entry], outer: Lookup | None) -> Lookup:
    def lookup(name: str) -> list[Piece] | None:
        entry = entries.get(name)
        if entry:
            return entry.pieces
        return outer(name) if outer else None

    return lookup
