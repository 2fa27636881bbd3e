"""The review's Document as Markdown: the download and ``manage.py readiness_report``."""

from __future__ import annotations

import re

from .document import Block, Checklist, Document, Heading, Items, Paragraph, Span, Table, Text


def _span(span: Span, *, cell: bool = False) -> str:
    value = span.text
    if cell:
        value = re.sub(r"\s+", " ", value).replace("|", "\\|")
    if span.code:
        return f"`{value}`"
    if span.strong and value.strip():
        return f"**{value}**"
    return value


def inline(value: Text, *, cell: bool = False) -> str:
    return "".join(_span(span, cell=cell) for span in value)


def _row(cells: tuple[Text, ...]) -> str:
    return "| " + " | ".join(inline(c, cell=True) for c in cells) + " |"


def _block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [inline(block.text)]
    if isinstance(block, Heading):
        return [f"### {block.text}"]
    if isinstance(block, Items):
        return [
            f"{f'{n}.' if block.ordered else '-'} {inline(item)}"
            for n, item in enumerate(block.items, start=1)
        ]
    if isinstance(block, Checklist):
        return [f"- [{'x' if e.done else ' '}] {inline(e.text)}" for e in block.entries]
    assert isinstance(block, Table)
    lines = [
        "| " + " | ".join(block.columns) + " |",
        "|" + "|".join("-" * (len(c) + 2) for c in block.columns) + "|",
    ]
    lines += [_row(row) for row in block.rows]
    if block.total is not None:
        lines.append(_row(block.total))
    return lines


def render(document: Document) -> str:
    lines = [f"# {document.title}"]
    lines += [inline(m) + "  " for m in document.meta]
    for section in document.sections:
        lines += ["", "---", "", f"## {section.title.upper() if section.shout else section.title}"]
        for block in section.blocks:
            lines.append("")
            lines += _block(block)
    lines += ["", "---", ""]
    lines += [inline(f) + "  " for f in document.footer]
    return "\n".join(line.rstrip() if not line.endswith("  ") else line for line in lines) + "\n"
