"""Jenkins pipelines (Jenkinsfile), declarative or scripted, read with a Groovy tokenizer.

Stages run in the order they are written; stages in different branches of a ``parallel`` run
side by side. A stage's steps are the ``sh``/``bat``/``powershell`` scripts (and ``build job:``
triggers) inside it. A Jenkinsfile without stages is one job of its steps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..tree import SourceTree
from . import Job, Pipeline, Step, no_jobs

SCRIPT_STEPS = frozenset({"sh", "bat", "powershell", "pwsh", "build", "script"})
WORD = re.compile(r"[A-Za-z_$][\w$]*")


@dataclass(frozen=True)
class _Token:
    kind: str  # word, string, or the punctuation itself
    text: str
    line: int


class Unreadable(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    at, line, length = 0, 1, len(text)
    while at < length:
        char, ahead = text[at], text[at : at + 3]
        if char == "\n":
            line += 1
            at += 1
        elif char.isspace():
            at += 1
        elif text.startswith("//", at):
            end = text.find("\n", at)
            at = length if end < 0 else end
        elif text.startswith("/*", at):
            end = text.find("*/", at + 2)
            if end < 0:
                raise Unreadable(line, "a /* comment is never closed")
            line += text.count("\n", at, end)
            at = end + 2
        elif ahead in ("'''", '"""'):
            end = text.find(ahead, at + 3)
            if end < 0:
                raise Unreadable(line, f"a {ahead} string is never closed")
            tokens.append(_Token("string", text[at + 3 : end], line))
            line += text.count("\n", at, end)
            at = end + 3
        elif char in "'\"":
            end, value = _quoted(text, at, char, line)
            tokens.append(_Token("string", value, line))
            at = end
        elif match := WORD.match(text, at):
            tokens.append(_Token("word", match.group(0), line))
            at = match.end()
        else:
            tokens.append(_Token(char, char, line))
            at += 1
    return tokens


def _quoted(text: str, at: int, quote: str, line: int) -> tuple[int, str]:
    value, position = [], at + 1
    depth = 0  # inside ${ … } of a GString
    while position < len(text):
        char = text[position]
        if char == "\\":
            value.append(text[position : position + 2])
            position += 2
            continue
        if char == "\n" and not depth:
            break
        if quote == '"' and text.startswith("${", position):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == quote and not depth:
            return position + 1, "".join(value)
        value.append(char)
        position += 1
    raise Unreadable(line, f"a {quote}…{quote} string is never closed")


@dataclass
class _Stage:
    name: str
    line: int
    start: int  # token index of its {
    end: int  # token index of its }
    parents: list[str] = field(default_factory=list)


def read(tree: SourceTree, path: Path) -> Pipeline:
    pipeline = Pipeline(tree.relative(path), "Jenkins", name=tree.relative(path))
    try:
        tokens = tokenize(tree.read(path))
        match = _braces(tokens)
    except Unreadable as problem:
        pipeline.problem, pipeline.line = f"cannot be read ({problem})", problem.line
        pipeline.unreadable = True
        return pipeline
    if not tokens:
        pipeline.problem = "empty: it defines nothing to run"
        return pipeline
    stages = _stages(tokens, match)
    branches = _parallel_branches(tokens, match)
    leaves = [
        s for s in stages if not any(o is not s and s.start < o.start < s.end for o in stages)
    ]
    for stage in leaves:
        job = Job(
            id=f"{stage.name}@{stage.line}",
            name=" › ".join([*stage.parents, stage.name]),
            line=stage.line,
            steps=_scripts(tokens, stage.start, stage.end),
        )
        job.after = {
            f"{earlier.name}@{earlier.line}"
            for earlier in leaves
            if earlier.end < stage.start and not _side_by_side(earlier, stage, branches)
        }
        pipeline.jobs.append(job)
    if not stages:
        steps = _scripts(tokens, 0, len(tokens))
        if steps:
            pipeline.jobs.append(Job("Jenkinsfile", "Jenkinsfile", tokens[0].line, steps=steps))
    return no_jobs(pipeline, "stages or steps")


def _braces(tokens: list[_Token]) -> dict[int, int]:
    pairs: dict[int, int] = {}
    stack: list[int] = []
    closing = {")": "(", "}": "{", "]": "["}
    for index, token in enumerate(tokens):
        if token.kind in "({[" and len(token.kind) == 1:
            stack.append(index)
        elif token.kind in closing:
            if not stack or tokens[stack[-1]].kind != closing[token.kind]:
                raise Unreadable(token.line, f"an unmatched {token.kind!r}")
            opened = stack.pop()
            pairs[opened] = index
    if stack:
        raise Unreadable(
            tokens[stack[-1]].line, f"a {tokens[stack[-1]].kind!r} that is never closed"
        )
    return pairs


def _stages(tokens: list[_Token], match: dict[int, int]) -> list[_Stage]:
    """`stage('Name') { … }` and `stage("Name") { … }`, in order, with their enclosing stages."""
    found: list[_Stage] = []
    for index, token in enumerate(tokens[:-4]):
        if token.kind == "word" and token.text == "stage" and tokens[index + 1].kind == "(":
            close = match[index + 1]
            name = next((t.text for t in tokens[index + 2 : close] if t.kind == "string"), "stage")
            if close + 1 < len(tokens) and tokens[close + 1].kind == "{":
                found.append(_Stage(name, token.line, close + 1, match[close + 1]))
    for stage in found:
        stage.parents = [o.name for o in found if o.start < stage.start and stage.end < o.end]
    return found


def _parallel_branches(tokens: list[_Token], match: dict[int, int]) -> list[list[tuple[int, int]]]:
    """For each `parallel`, the token spans of its branches: the blocks inside `parallel { }`
    (declarative) or the closures of `parallel a: { … }, b: { … }` (scripted)."""
    regions = []
    for index, token in enumerate(tokens[:-1]):
        if token.kind != "word" or token.text != "parallel":
            continue
        branches = []
        if tokens[index + 1].kind in ("(", "{"):
            position, end = index + 2, match[index + 1]
            while position < end:
                if tokens[position].kind == "{":
                    branches.append((position, match[position]))
                    position = match[position]
                position += 1
        else:
            position = index + 1
            while position + 2 < len(tokens) and tokens[position + 1].kind == ":":
                value = position + 2
                if tokens[value].kind == "{":
                    branches.append((value, match[value]))
                    value = match[value]
                if value + 1 >= len(tokens) or tokens[value + 1].kind != ",":
                    break
                position = value + 2
        regions.append(branches)
    return regions


def _side_by_side(one: _Stage, other: _Stage, regions: list[list[tuple[int, int]]]) -> bool:
    for branches in regions:
        inside = [b for b in branches if b[0] <= one.start and one.end <= b[1]]
        also = [b for b in branches if b[0] <= other.start and other.end <= b[1]]
        if inside and also and inside != also:
            return True
    return False


def _scripts(tokens: list[_Token], start: int, end: int) -> list[Step]:
    """The scripts a stage runs: `sh 'make test'`, `sh(script: "…", label: …)`,
    `build job: 'deploy-production'`."""
    steps = []
    for index in range(start, end):
        token = tokens[index]
        if token.kind != "word" or token.text not in SCRIPT_STEPS or token.text == "script":
            continue
        arguments = _arguments(tokens, index + 1, end)
        key = "job" if token.text == "build" else "script"
        keyed = [
            arguments[i + 2].text
            for i in range(len(arguments) - 2)
            if arguments[i].text == key
            and arguments[i + 1].kind == ":"
            and arguments[i + 2].kind == "string"
        ]
        strings = keyed or [a.text for a in arguments if a.kind == "string"][:1]
        if strings:
            steps.append(Step(("build job " if key == "job" else "") + strings[0]))
    return steps


def _arguments(tokens: list[_Token], position: int, end: int) -> list[_Token]:
    """A call's arguments: inside its parentheses, or the rest of its line (and the next
    lines while a line ends with a comma)."""
    if position < end and tokens[position].kind == "(":
        close = position
        depth = 0
        while close < end:
            depth += {"(": 1, ")": -1}.get(tokens[close].kind, 0)
            if depth == 0:
                break
            close += 1
        return tokens[position + 1 : close]
    found: list[_Token] = []
    line = tokens[position - 1].line
    while position < end and tokens[position].kind not in ("}", ")", ";", "{"):
        token = tokens[position]
        if token.line != line and not (found and found[-1].kind == ","):
            break
        found.append(token)
        line = token.line
        position += 1
    return found
