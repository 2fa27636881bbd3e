"""A migration's SQL cut into statements, as psql would send them: semicolons inside literals,
quoted names, dollar-quoted bodies and comments do not end a statement.

The rehearsal runs a migration statement by statement so that an error names the statement
that failed (and its line), locks are attributed to the statement that took them, and every
statement gets the time left before the rehearsal's deadline."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
# Bare transaction control: the rehearsal gives each migration its own transaction, so a file's
# own BEGIN; … COMMIT; (golang-migrate files often have them) is left out rather than run.
TRANSACTION_CONTROL = frozenset(
    {
        "begin",
        "begin transaction",
        "begin work",
        "start transaction",
        "commit",
        "commit transaction",
        "commit work",
        "end",
        "end transaction",
    }
)
# Statements PostgreSQL refuses inside a transaction block: a migration holding one runs
# statement by statement, each committed on its own, as the tools themselves do.
OUTSIDE_TRANSACTION = re.compile(
    r"^\s*(?:create\s+(?:unique\s+)?index\s+concurrently"
    r"|drop\s+index\s+concurrently"
    r"|reindex\b.*\bconcurrently"
    r"|alter\s+table\b.*\bdetach\s+partition\b.*\bconcurrently"
    r"|vacuum\b|create\s+database\b|drop\s+database\b|alter\s+system\b"
    r"|create\s+tablespace\b|drop\s+tablespace\b)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Statement:
    sql: str
    line: int  # where it starts in its file, from 1

    @property
    def code(self) -> str:
        """The statement without comments, blanks collapsed, lower-cased: what it does."""
        return " ".join(strip_comments(self.sql).split()).lower()

    @property
    def is_transaction_control(self) -> bool:
        return self.code.rstrip(";").strip() in TRANSACTION_CONTROL

    @property
    def needs_autocommit(self) -> bool:
        return bool(OUTSIDE_TRANSACTION.match(strip_comments(self.sql)))

    def shown(self, limit: int = 600) -> str:
        text = self.sql.strip()
        return text if len(text) <= limit else text[: limit - 1] + "…"


def split(text: str) -> list[Statement]:
    """The statements of ``text`` (without their terminating semicolons), comment-only pieces
    left out."""
    statements: list[Statement] = []
    start, at, length = 0, 0, len(text)
    while at < length:
        char, ahead = text[at], text[at : at + 2]
        if ahead == "--":
            end = text.find("\n", at)
            at = length if end < 0 else end
        elif ahead == "/*":
            at = _comment_end(text, at)
        elif char == "'":
            escapes = at > 0 and text[at - 1] in "eE" and not _word_char(text, at - 2)
            at = _quoted_end(text, at, "'", backslashes=escapes)
        elif char == '"':
            at = _quoted_end(text, at, '"', backslashes=False)
        elif char == "$" and not _word_char(text, at - 1):
            tag = DOLLAR_TAG.match(text, at)
            if tag:
                end = text.find(tag.group(0), tag.end())
                at = length if end < 0 else end + len(tag.group(0))
            else:
                at += 1
        elif char == ";":
            _add(statements, text, start, at)
            at += 1
            start = at
        else:
            at += 1
    _add(statements, text, start, length)
    return statements


def _add(statements: list[Statement], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    if not strip_comments(piece).strip():
        return
    # The statement starts at its first word: comments before it belong to no statement.
    offset = start
    while True:
        while offset < end and text[offset].isspace():
            offset += 1
        if text.startswith("--", offset):
            newline = text.find("\n", offset)
            offset = end if newline < 0 or newline > end else newline
        elif text.startswith("/*", offset):
            offset = _comment_end(text, offset)
        else:
            break
    statements.append(Statement(text[offset:end].strip(), text.count("\n", 0, offset) + 1))


def _word_char(text: str, at: int) -> bool:
    return at >= 0 and (text[at].isalnum() or text[at] == "_")


def _comment_end(text: str, at: int) -> int:
    depth, at = 1, at + 2
    while at < len(text) and depth:
        if text.startswith("/*", at):
            depth, at = depth + 1, at + 2
        elif text.startswith("*/", at):
            depth, at = depth - 1, at + 2
        else:
            at += 1
    return at


def _quoted_end(text: str, at: int, quote: str, *, backslashes: bool) -> int:
    at += 1
    while at < len(text):
        if backslashes and text[at] == "\\":
            at += 2
        elif text[at] == quote:
            if text.startswith(quote * 2, at):  # a doubled quote stands for itself
                at += 2
            else:
                return at + 1
        else:
            at += 1
    return len(text)


def strip_comments(text: str) -> str:
    """``text`` without -- and /* */ comments; literals and quoted names kept as they are."""
    out: list[str] = []
    at, length = 0, len(text)
    while at < length:
        char, ahead = text[at], text[at : at + 2]
        if ahead == "--":
            end = text.find("\n", at)
            at = length if end < 0 else end
        elif ahead == "/*":
            at = _comment_end(text, at)
            out.append(" ")
        elif char in "'\"":
            end = _quoted_end(text, at, char, backslashes=False)
            out.append(text[at:end])
            at = end
        elif char == "$" and not _word_char(text, at - 1) and DOLLAR_TAG.match(text, at):
            tag = DOLLAR_TAG.match(text, at)
            assert tag is not None
            end = text.find(tag.group(0), tag.end())
            end = length if end < 0 else end + len(tag.group(0))
            out.append(text[at:end])
            at = end
        else:
            out.append(char)
            at += 1
    return "".join(out)
