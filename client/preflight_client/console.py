"""Where the command writes: answers to stdout (raw JSON with --json), progress and errors to
stderr. The clock and the sleep live here too, so tests run the waits without waiting."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass
class Console:
    """Where the command writes, and how it waits; tests swap all of it."""

    stdout: TextIO
    stderr: TextIO
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    as_json: bool = False
    quiet: bool = False

    def out(self, *lines: str) -> None:
        for line in lines:
            self.stdout.write(line + "\n")
        self.stdout.flush()

    def answer(self, body: Any, *lines: str) -> None:
        """The command's answer: the raw body with --json, else the human lines."""
        if self.as_json:
            self.out(json.dumps(body, sort_keys=True))
        else:
            self.out(*lines)

    def note(self, line: str) -> None:
        if not self.quiet:
            self.stderr.write(line + "\n")
            self.stderr.flush()

    def error(self, *lines: str) -> None:
        for line in lines:
            self.stderr.write(line + "\n")
        self.stderr.flush()
