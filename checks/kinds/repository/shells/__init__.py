"""Reading deploy scripts for the waits they make: bash through a real parser (tree-sitter's bash
grammar), PowerShell through a tokenizer that knows its strings, comments and loops.

Both readers answer the same question — where does the script sleep, for how long, and is that
sleep a pause between polls of a readiness (or retry) loop — so the rule judges both alike."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Commands that do not look at the world: a loop that runs only these is not polling anything.
NOT_PROBES = frozenset(
    {
        # shell
        ":",
        "true",
        "false",
        "echo",
        "printf",
        "sleep",
        "let",
        "expr",
        "read",
        "shift",
        "local",
        "export",
        "declare",
        "readonly",
        "typeset",
        "set",
        "getopts",
        "break",
        "continue",
        "return",
        "exit",
        # PowerShell (lower-cased)
        "start-sleep",
        "write-host",
        "write-output",
        "write-verbose",
        "write-debug",
        "write-information",
        "write-warning",
        "write-progress",
        "out-null",
        "out-host",
    }
)


@dataclass(frozen=True)
class Wait:
    """A sleep in a script: ``seconds`` is ``None`` when its length is not a constant of the
    script (a parameter, an environment variable); ``polling`` when it sits in a loop that
    polls for readiness or retries until something succeeds."""

    line: int
    text: str
    seconds: float | None
    polling: bool


class Unreadable(Exception):
    """The script, or a part of it, cannot be read: ``reason`` says why (a syntax error, an
    unclosed string or block)."""

    def __init__(self, line: int | None, reason: str, *, partly: bool = False) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.partly = partly


@dataclass(frozen=True)
class Reading:
    """What a reader made of a script: its waits, and what it could not read (if anything)."""

    waits: list[Wait]
    unreadable: Unreadable | None = None


# GNU sleep: NUMBER[smhd], several arguments add up (`sleep 1m 30s`).
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(words: Iterable[str]) -> float | None:
    """The seconds ``sleep WORDS…`` waits, or ``None`` when a word is not a duration."""
    total = 0.0
    counted = False
    for word in words:
        if word.lower() in ("inf", "infinity"):
            return float("inf")
        match = _DURATION.match(word)
        if not match:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        counted = True
    return total if counted else None


def one_line(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
