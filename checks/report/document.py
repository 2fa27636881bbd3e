"""The review as a document: sections of blocks (paragraphs, tables, lists, checklists) holding
text that is already worded and numbers that are already formatted.

The Markdown download, the page and its print are renderings of one Document
(``checks.report.markdown`` and ``templates/checks/_report_body.html``): neither renderer words
a sentence or formats a number of its own, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Span:
    text: str
    strong: bool = False
    code: bool = False


Text = tuple[Span, ...]


def text(*parts: str | Span) -> Text:
    """Plain strings and spans, in order: ``text("Gate ", strong("closed"), ".")``."""
    return tuple(Span(p) if isinstance(p, str) else p for p in parts if p != "")


def strong(value: object) -> Span:
    return Span(str(value), strong=True)


def code(value: object) -> Span:
    return Span(str(value), code=True)


def plain(value: Text) -> str:
    return "".join(span.text for span in value)


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: Text
    note: bool = False  # a muted explanation under a table


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    columns: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]
    total: tuple[Text, ...] | None = None
    numeric: frozenset[int] = frozenset()  # column indexes aligned right


@dataclass(frozen=True)
class Items:
    kind: ClassVar[str] = "items"
    items: tuple[Text, ...]
    ordered: bool = False


@dataclass(frozen=True)
class ChecklistEntry:
    done: bool
    text: Text


@dataclass(frozen=True)
class Checklist:
    kind: ClassVar[str] = "checklist"
    entries: tuple[ChecklistEntry, ...]


Block = Paragraph | Heading | Table | Items | Checklist


@dataclass
class Section:
    key: str  # an anchor: stable, for links and tests
    title: str
    blocks: list[Block] = field(default_factory=list)
    # The review writes its part headings in capitals ("## RISK SUMMARY BY CATEGORY").
    shout: bool = True

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    def items(self, entries: Iterable[Text], *, ordered: bool = False, empty: str = "") -> None:
        listed = tuple(entries)
        if listed:
            self.blocks.append(Items(listed, ordered=ordered))
        elif empty:
            self.blocks.append(Paragraph(text(empty)))


@dataclass
class Document:
    title: str
    meta: tuple[Text, ...]  # date, reviewer, system
    sections: list[Section]
    footer: tuple[Text, ...]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)
