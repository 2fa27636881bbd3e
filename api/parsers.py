"""The JSON the API accepts: I-JSON (RFC 7493) — UTF-8, no member name twice in an object, no
lone surrogates, numbers that are 64-bit integers or finite doubles — with no NUL characters
(PostgreSQL text cannot hold them) and at most ``MAX_DEPTH`` levels of nesting.

Anything else is a 400 ``parse_error`` naming where it went wrong, at the door, instead of a 500
further in: a lone surrogate cannot be encoded to answer or store, a NUL cannot be stored, a
number past 64 bits overflows a column, and deep nesting exhausts the parser's recursion. A member
named twice is refused rather than resolved: parsers disagree on which one wins (I-JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

MAX_DEPTH = 32
_INT_LIMIT = 2**63
_INT_DIGITS = 20  # more digits than any 64-bit integer has, sign included


class _Refused(ValueError):
    """A problem with the text, with its place in the document already in the message."""


class JSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        # JSON is UTF-8 (RFC 8259 §8.1) whatever charset the Content-Type names.
        return loads(stream.read())


def loads(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"The body is not UTF-8 (byte {exc.start} is invalid).") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_double,
            parse_constant=_constant,
        )
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
    except _Refused as exc:
        raise ParseError(str(exc)) from None
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    problem = _problem(data)
    if problem:
        raise ParseError(problem)
    return data


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Refused(f"JSON names the member {_quoted(name)} twice in one object.")
            seen.add(name)
    return data


def _integer(digits: str) -> int:
    number = int(digits) if len(digits) <= _INT_DIGITS else _INT_LIMIT
    if not -_INT_LIMIT <= number < _INT_LIMIT:
        raise _Refused(f"The number {_shortened(digits)} is out of range (64-bit integers).")
    return number


def _double(digits: str) -> float:
    number = float(digits)
    if not math.isfinite(number):
        raise _Refused(f"The number {_shortened(digits)} is out of range (finite doubles).")
    return number


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON.")


def _problem(data: Any) -> str:
    """What the parsed document breaks of the rules the parser itself cannot check, or ""."""
    pending: list[tuple[Any, int, str]] = [(data, 0, "$")]
    while pending:
        value, depth, where = pending.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return f"JSON nested deeper than {MAX_DEPTH} levels."
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for name, inner in items:
                if isinstance(name, str) and (problem := _text_problem(name)):
                    return f"The member name at {where} {problem}."
                pending.append((inner, depth + 1, _member(where, name)))
        elif isinstance(value, str) and (problem := _text_problem(value)):
            return f"The text at {where} {problem}."
    return ""


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (half of a UTF-16 pair)"
    return ""


def _member(where: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{where}[{name}]"
    if name.isidentifier() and name.isascii():
        return f"{where}.{name}"
    return f"{where}[{_quoted(name)}]"


def _quoted(name: str) -> str:
    """A member name fit for a message: escaped, so a lone surrogate or a NUL cannot break it."""
    return _shortened(json.dumps(name))


def _shortened(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
