"""The waits of a PowerShell script, read with a tokenizer.

PowerShell needs no full parser for this: knowing its strings (single and double quotes, backtick
escapes, ``$( )`` inside double quotes), comments (``#`` and ``<# #>``), here-strings (``@" "@``,
``@' '@``), brackets and loop keywords is enough to tell a real ``Start-Sleep`` from the word in
a string, and a sleep between polls from a fixed wait."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import NOT_PROBES, Reading, Unreadable, Wait, duration_seconds, one_line

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
PUNCTUATION = "{}()[];|,"
OPENERS = frozenset("({[")
WORD_END = set(PUNCTUATION) | set(SINGLE_QUOTES) | set(DOUBLE_QUOTES) | set(" \t\r\n=")
KEYWORDS = frozenset(
    (  # noqa: SIM905 - a sentence of keywords reads better than 32 quoted strings
        "if elseif else while do until for foreach switch try catch finally function filter param "
        "return break continue exit throw trap begin process end in class enum data dynamicparam "
        "workflow parallel sequence"
    ).split()
)
# Where a new statement (and so a command) can begin.
STATEMENT_STARTS = frozenset({"nl", ";", "{", "}", "(", "|", "&", "&&", "||", "="})
STATEMENT_ENDS = frozenset({"nl", ";", "|", "&&", "||", "}", ")"})
SCOPES = ("script:", "global:", "local:", "private:", "using:")
UNIT_SECONDS = {"milliseconds": 0.001, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
FROM_UNIT = re.compile(
    r"::From(Milliseconds|Seconds|Minutes|Hours|Days)\(\s*([\d.]+)\s*\)", re.IGNORECASE
)
TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class Token:
    kind: str  # word, var, string, nl, op= and the punctuation itself: { } ( ) [ ] ; | , = & && ||
    text: str
    line: int


def read(text: str) -> Reading:
    """Every ``Start-Sleep`` (or ``sleep``) the script runs; nothing but the reason when a
    string, comment, here-string or bracket is never closed (everything after it is in doubt)."""
    try:
        script = _Script(tokenize(text))
    except Unreadable as problem:
        return Reading([], problem)
    return Reading([script.wait(index) for index in script.commands("start-sleep", "sleep")])


def tokenize(text: str) -> list[Token]:
    return _Lexer(text).tokens()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.line = 1

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        text = self.text
        while self.at < len(text):
            char, ahead = text[self.at], text[self.at : self.at + 2]
            start = self.line
            if char == "\n":
                found.append(Token("nl", "\n", start))
                self._advance(1)
            elif char in " \t\r\f\ufeff":
                self.at += 1
            elif ahead in ("`\n", "`\r"):  # a line continues on the next
                self._advance(text.index("\n", self.at) + 1 - self.at)
            elif ahead == "<#":
                self._past("#>", "a <# comment is never closed")
            elif char == "#":
                end = text.find("\n", self.at)
                self.at = len(text) if end < 0 else end
            elif char == "@" and text[self.at + 1 : self.at + 2] in ('"', "'") and self._heading():
                quote = text[self.at + 1]
                self._past(f"\n{quote}@", f"a @{quote} here-string is never closed")
                found.append(Token("string", "", start))
            elif char in DOUBLE_QUOTES:
                found.append(Token("string", self._double(), start))
            elif char in SINGLE_QUOTES:
                found.append(Token("string", self._single(), start))
            elif char == "$" and ahead != "$(":
                found.append(Token("var", self._variable(), start))
            elif ahead in ("$(", "@(", "@{"):
                found.append(Token(ahead[1], ahead[1], start))
                self.at += 2
            elif ahead in ("&&", "||"):
                found.append(Token(ahead, ahead, start))
                self.at += 2
            elif char in PUNCTUATION or char in "=&":
                found.append(Token(char, char, start))
                self.at += 1
            elif char in "+-*/%" and text[self.at + 1 : self.at + 2] == "=":
                found.append(Token("op=", ahead, start))
                self.at += 2
            else:
                found.append(Token("word", self._word(), start))
        return found

    def _advance(self, count: int) -> None:
        self.line += self.text.count("\n", self.at, self.at + count)
        self.at += count

    def _past(self, end: str, unclosed: str) -> None:
        close = self.text.find(end, self.at + 2)
        if close < 0:
            raise Unreadable(self.line, unclosed)
        self._advance(close + len(end) - self.at)

    def _next_in(self, characters: str) -> bool:
        """Is the character after the current one in ``characters`` (a doubled quote)?"""
        return self.at + 1 < len(self.text) and self.text[self.at + 1] in characters

    def _heading(self) -> bool:
        """`@"` opens a here-string only when nothing but blanks follows it on its line."""
        end = self.text.find("\n", self.at)
        return end >= 0 and not self.text[self.at + 2 : end].strip()

    def _single(self) -> str:
        text, start, value = self.text, self.line, []
        self.at += 1
        while self.at < len(text):
            char = text[self.at]
            if char in SINGLE_QUOTES:
                if self._next_in(SINGLE_QUOTES):
                    value.append("'")
                    self.at += 2
                    continue
                self.at += 1
                return "".join(value)
            value.append(char)
            self._advance(1)
        raise Unreadable(start, "a '…' string is never closed")

    def _double(self) -> str:
        text, start, value = self.text, self.line, []
        self.at += 1
        while self.at < len(text):
            char = text[self.at]
            if char == "`" and self.at + 1 < len(text):
                value.append(text[self.at + 1])
                self._advance(2)
            elif char in DOUBLE_QUOTES:
                if self._next_in(DOUBLE_QUOTES):
                    value.append('"')
                    self.at += 2
                    continue
                self.at += 1
                return "".join(value)
            elif text.startswith("$(", self.at):
                self._subexpression()
                value.append("$(…)")
            else:
                value.append(char)
                self._advance(1)
        raise Unreadable(start, 'a "…" string is never closed')

    def _subexpression(self) -> None:
        """Skip ``$( … )`` inside a double-quoted string: it may hold strings of its own."""
        start = self.line
        self.at += 2
        depth = 1
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in DOUBLE_QUOTES:
                self._double()
            elif char in SINGLE_QUOTES:
                self._single()
            elif char == "(":
                depth += 1
                self.at += 1
            elif char == ")":
                depth -= 1
                self.at += 1
                if depth == 0:
                    return
            else:
                self._advance(1)
        raise Unreadable(start, "a $( … ) inside a string is never closed")

    def _variable(self) -> str:
        text = self.text
        if text.startswith("${", self.at):
            close = text.find("}", self.at)
            if close < 0:
                raise Unreadable(self.line, "a ${…} variable is never closed")
            name = text[self.at + 2 : close]
            self.at = close + 1
            return name
        match = re.compile(r"\$([\w:]+|[?$^_])").match(text, self.at)
        if not match:
            self.at += 1
            return ""
        self.at = match.end()
        return match.group(1)

    def _word(self) -> str:
        text, value = self.text, []
        while self.at < len(text) and text[self.at] not in WORD_END:
            if text[self.at] == "`" and self.at + 1 < len(text):
                self.at += 1
            value.append(text[self.at])
            self.at += 1
        return "".join(value)


def _variable_name(token: Token) -> str:
    name = token.text.lower()
    for scope in SCOPES:
        name = name.removeprefix(scope)
    return name


class _Script:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.match = self._brackets()
        self.assignments: list[tuple[int, str, float | None]] = []
        for index, token in enumerate(tokens):
            if token.kind == "var" and self._assigned(index):
                value = None  # `$x += 5` is no constant
                if tokens[index + 1].kind == "=":
                    value = self.number(index + 2, self._statement_end(index + 2))
                self.assignments.append((index, _variable_name(token), value))
        self.loops = list(self._loops())

    def _brackets(self) -> dict[int, int]:
        """Each opening ( { [ to its closing token and back; unbalanced ones are unreadable."""
        pairs, stack = {}, []
        closing = {")": "(", "}": "{", "]": "["}
        for index, token in enumerate(self.tokens):
            if token.kind in OPENERS:
                stack.append(index)
            elif token.kind in closing:
                if not stack or self.tokens[stack[-1]].kind != closing[token.kind]:
                    raise Unreadable(token.line, f"an unmatched {token.kind!r}")
                opened = stack.pop()
                pairs[opened], pairs[index] = index, opened
        if stack:
            token = self.tokens[stack[-1]]
            raise Unreadable(token.line, f"a {token.kind!r} that is never closed")
        return pairs

    def _previous(self, index: int) -> Token | None:
        return self.tokens[index - 1] if index > 0 else None

    def _starts_statement(self, index: int) -> bool:
        before = index - 1
        while before >= 0 and self.tokens[before].kind == "]":  # [int]$x = 30, [Parameter()]
            before = self.match[before] - 1
        return before < 0 or self.tokens[before].kind in STATEMENT_STARTS | {","}

    def _assigned(self, index: int) -> bool:
        following = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
        return (
            following is not None
            and following.kind in ("=", "op=")
            and self._starts_statement(index)
        )

    def is_command(self, index: int) -> bool:
        token = self.tokens[index]
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            return False
        if token.text[:1].isdigit() or token.text[:1] in "-+!:[":
            return False
        previous = self._previous(index)
        return previous is None or previous.kind in STATEMENT_STARTS

    def commands(self, *names: str) -> list[int]:
        return [
            index
            for index, token in enumerate(self.tokens)
            if self.is_command(index) and token.text.lower() in names
        ]

    def _statement_end(self, index: int) -> int:
        """The index just past the statement that continues at ``index``."""
        while index < len(self.tokens):
            token = self.tokens[index]
            if token.kind in STATEMENT_ENDS or token.kind == ",":
                return index
            index = self.match[index] + 1 if token.kind in OPENERS else index + 1
        return index

    def constant(self, name: str, at: int) -> float | None:
        values = [(where, value) for where, known, value in self.assignments if known == name]
        before = [value for where, value in values if where < at]
        if before:
            return before[-1]
        distinct = {value for _, value in values}
        return distinct.pop() if len(distinct) == 1 else None

    def number(self, start: int, end: int) -> float | None:
        """The value of a constant expression: a number, a numeric string, a variable set to a
        constant, or their product (`30 * 1000`, `($Wait * 1000)`)."""
        tokens = self.tokens[start:end]
        while len(tokens) >= 2 and tokens[0].kind == "(" and tokens[-1].kind == ")":
            tokens = tokens[1:-1]
        total: float | None = None
        operator = "*"
        for position, token in enumerate(tokens):
            if position % 2:
                if token.kind != "word" or token.text not in ("*", "/"):
                    return None
                operator = token.text
                continue
            value = self._value(token, start + position)
            if value is None:
                return None
            if total is None:
                total = value
            elif operator == "*":
                total *= value
            elif value:
                total /= value
            else:
                return None
        return total

    def _value(self, token: Token, at: int) -> float | None:
        if token.kind == "var":
            return self.constant(_variable_name(token), at)
        if token.kind in ("word", "string"):
            try:
                return (
                    float(int(token.text, 16))
                    if token.text.lower().startswith("0x")
                    else float(token.text)
                )
            except ValueError:
                return None
        return None

    def wait(self, index: int) -> Wait:
        end = self._statement_end(index + 1)
        return Wait(
            line=self.tokens[index].line,
            text=one_line(" ".join(self._shown(t) for t in self.tokens[index:end])),
            seconds=self._sleep_seconds(index, end),
            polling=any(self._polling(loop) for loop in self.loops if loop.around(index)),
        )

    @staticmethod
    def _shown(token: Token) -> str:
        if token.kind == "var":
            return f"${token.text}"
        if token.kind == "string":
            return f"'{token.text}'"
        return token.text

    def _sleep_seconds(self, index: int, end: int) -> float | None:
        """Seconds a Start-Sleep waits: its -Seconds, -Milliseconds or -Duration, named (in
        full, shortened or by alias) or positional."""
        position = index + 1
        seconds: float | None = None
        alias = self.tokens[index].text.lower() == "sleep"
        while position < end:
            token = self.tokens[position]
            unit = "seconds"
            if token.kind == "word" and token.text.startswith("-") and len(token.text) > 1:
                name, _, inline = token.text[1:].partition(":")
                named = _parameter(name.lower())
                if named is None:  # a switch such as -Verbose
                    position += 1
                    continue
                unit = named
                if inline:
                    value_end = position + 1
                    value = self._value(Token("word", inline, token.line), position)
                else:
                    value_end = self._argument_end(position + 1, end)
                    value = self._measure(unit, position + 1, value_end)
            else:
                value_end = self._argument_end(position, end)
                value = self._measure(unit, position, value_end)
                if value is None and alias and token.kind == "word":
                    value = duration_seconds([token.text])  # `sleep 1m` on PowerShell 7
            if value is None:
                return None
            seconds = (seconds or 0) + (value / 1000 if unit == "milliseconds" else value)
            position = value_end
        return seconds

    def _argument_end(self, start: int, end: int) -> int:
        if start >= end:
            return start
        return self.match[start] + 1 if self.tokens[start].kind in OPENERS else start + 1

    def _measure(self, unit: str, start: int, end: int) -> float | None:
        if unit != "duration":
            return self.number(start, end)
        text = " ".join(t.text for t in self.tokens[start:end])
        if found := FROM_UNIT.search(text.replace(" ", "")):
            return float(found.group(2)) * UNIT_SECONDS[found.group(1).lower()]
        if found := TIMESPAN.match(text.strip("'\" ")):
            days, hours, minutes, secs = (float(g or 0) for g in found.groups())
            return days * 86400 + hours * 3600 + minutes * 60 + secs
        words = [t.text.lower() for t in self.tokens[start:end]]
        if "new-timespan" in words:
            total = 0.0
            for offset, word in enumerate(words):
                unit_name = next(
                    (u for u in UNIT_SECONDS if word[1:] and u.startswith(word[1:])), None
                )
                if word.startswith("-") and unit_name and start + offset + 1 < end:
                    value = self.number(start + offset + 1, start + offset + 2)
                    if value is None:
                        return None
                    total += value * UNIT_SECONDS[unit_name]
            return total
        return None

    def _ahead(self, index: int) -> int:
        """The first token at or after ``index`` that is not a line break: PowerShell allows
        `while ($x)` and its `{` (or a `do { }` and its `until`) on separate lines."""
        while index < len(self.tokens) and self.tokens[index].kind == "nl":
            index += 1
        return index

    def _behind(self, index: int) -> int:
        """The last token before ``index`` that is not a line break (-1: none)."""
        index -= 1
        while index >= 0 and self.tokens[index].kind == "nl":
            index -= 1
        return index

    def _is(self, index: int, kind: str) -> bool:
        return 0 <= index < len(self.tokens) and self.tokens[index].kind == kind

    def _loops(self) -> list[_Loop]:
        loops: list[_Loop] = []
        tokens = self.tokens
        trailing: set[int] = set()  # the while/until that closes a do { } loop
        for index, token in enumerate(tokens):
            keyword = token.text.lower() if token.kind == "word" else ""
            block = self._ahead(index + 1)
            if keyword == "do" and self._is(block, "{"):
                tail = self._ahead(self.match[block] + 1)
                if tail < len(tokens) and tokens[tail].text.lower() in ("while", "until"):
                    trailing.add(tail)
                    condition = self._parenthesised(self._ahead(tail + 1))
                    loops.append(_Loop("do", condition, (block, self.match[block])))
            elif keyword in ("while", "for", "foreach") and index not in trailing:
                condition = self._parenthesised(block)
                if condition:
                    block = self._ahead(condition[1] + 1)
                if self._is(block, "{"):
                    loops.append(_Loop(keyword, condition, (block, self.match[block])))
            elif keyword in ("foreach-object", "%") and self._is(block, "{"):
                loops.append(_Loop("foreach", None, (block, self.match[block])))
        return loops

    def _parenthesised(self, index: int) -> tuple[int, int] | None:
        if index < len(self.tokens) and self.tokens[index].kind == "(":
            return index, self.match[index]
        return None

    def _probes(self, start: int, end: int, watched: frozenset[str]) -> bool:
        for index in range(start, end):
            token = self.tokens[index]
            if self.is_command(index) and token.text.lower() not in NOT_PROBES:
                return True
            if token.kind == "var" and _variable_name(token) in watched | {"?", "lastexitcode"}:
                return True
        return False

    def _watched(self, loop: _Loop) -> frozenset[str]:
        """Variables the loop body sets, except counters (`$i = $i + 1`)."""
        start, end = loop.body
        names = set()
        for where, name, _ in self.assignments:
            if start < where < end and self.tokens[where + 1].kind == "=":
                rest = self.tokens[where + 2 : self._statement_end(where + 2)]
                if not any(t.kind == "var" and _variable_name(t) == name for t in rest):
                    names.add(name)
        return frozenset(names)

    def _polling(self, loop: _Loop) -> bool:
        start, end = loop.body
        watched = self._watched(loop)
        if loop.condition and loop.kind != "foreach":
            low, high = loop.condition
            if self._probes(low + 1, high, frozenset()):
                return True
            if self._probes(start, end, frozenset()) and self._probes(low + 1, high, watched):
                return True
        for index in range(start + 1, end):
            if self._success_exit(index, loop):
                guard = self._guard(index, loop)
                if self._probes(guard[0], guard[1], watched):
                    return True
        return False

    def _success_exit(self, index: int, loop: _Loop) -> bool:
        token = self.tokens[index]
        word = token.text.lower() if token.kind == "word" else ""
        after = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
        if word == "break":
            inner = [other for other in self.loops if other.around(index)]
            return min(inner, key=lambda other: other.body[1] - other.body[0]) == loop
        if word == "return":
            return (
                after is None or after.kind in STATEMENT_ENDS or after.text.lower() in ("0", "true")
            )
        return word == "exit" and after is not None and after.text == "0"

    def _guard(self, index: int, loop: _Loop) -> tuple[int, int]:
        """The tokens that decide whether the exit at ``index`` runs: the condition of the `if`
        whose block holds it, or the `try` block before it; else the whole loop body."""
        opened = max(
            (o for o, c in self.match.items() if o < index < c and self.tokens[o].kind == "{"),
            default=loop.body[0],
        )
        if opened <= loop.body[0]:
            return loop.body
        before = self._behind(opened)
        if self._is(before, ")"):
            keyword = self._behind(self.match[before])
            if keyword >= 0 and self.tokens[keyword].text.lower() in ("if", "elseif"):
                return self.match[before], before
        if before >= 0 and self.tokens[before].text.lower() == "try":
            return opened, index
        return loop.body


@dataclass(frozen=True)
class _Loop:
    kind: str  # while, do, for, foreach
    condition: tuple[int, int] | None  # the ( ) after while/until/for/foreach
    body: tuple[int, int]  # the { }

    def around(self, index: int) -> bool:
        return self.body[0] < index < self.body[1]


def _parameter(name: str) -> str | None:
    """Start-Sleep's parameter for a (possibly shortened) name: -s, -Sec, -ms, -Milli, -Duration."""
    if name == "ms" or (name and "milliseconds".startswith(name)):
        return "milliseconds"
    if name and "seconds".startswith(name):
        return "seconds"
    if name and "duration".startswith(name):
        return "duration"
    return None
