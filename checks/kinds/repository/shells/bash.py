"""The waits of a bash (or POSIX sh) script, read with tree-sitter's bash grammar.

tree-sitter reads nearly all of bash (``[[ ]]``, ``case``, arrays, arithmetic, heredocs) and marks
what it cannot read instead of giving up — a real syntax error, or the rare valid construct its
grammar lacks (``!(extglob)`` patterns, two heredocs on one line). The rest of the script is still
judged; a sleep in or around the part it could not read is not, and the reading says so."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from . import NOT_PROBES, Reading, Unreadable, Wait, duration_seconds, one_line

_LANGUAGE = Language(tree_sitter_bash.language())
LOOPS = frozenset({"while_statement", "for_statement", "c_style_for_statement", "select_statement"})
# `[ -f /tmp/ready ]` and friends look at the world: waiting for a file or socket is polling.
FILE_TESTS = frozenset({"-e", "-f", "-d", "-s", "-S", "-p", "-r", "-w", "-x", "-L", "-h", "-N"})
GUARDS = frozenset({"list", "if_statement", "elif_clause", "case_statement"})
DEFAULTING = frozenset({":-", "-", ":=", "="})


def read(text: str) -> Reading:
    """Every ``sleep`` the script runs that lies outside the parts the parser could not read."""
    root = Parser(_LANGUAGE).parse(text.encode("utf-8")).root_node
    script = _Script(root)
    waits = [
        script.wait(node)
        for node in _descendants(root)
        if _command_name(node) == "sleep" and not _near_error(node, root)
    ]
    if not root.has_error:
        return Reading(waits)
    return Reading(waits, Unreadable(*_first_error(root), partly=True))


def _near_error(node: Node, root: Node) -> bool:
    """Is ``node`` in, or inside a construct around, a part the parser could not read?"""
    current: Node | None = node
    while current is not None and current != root:
        if current.has_error:
            return True
        current = current.parent
    return False


def _first_error(root: Node) -> tuple[int, str]:
    node = root
    while True:
        if node.type == "ERROR" or node.is_missing:
            what = f"a missing {node.type!r}" if node.is_missing else "a syntax error"
            return node.start_point[0] + 1, what
        broken = [child for child in node.children if child.has_error]
        if not broken:
            return node.start_point[0] + 1, "a syntax error"
        node = broken[0]


def _descendants(node: Node) -> Iterator[Node]:
    """``node`` and everything below it, in document order (no recursion: deep `&&` chains)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _command_name(node: Node) -> str | None:
    if node.type != "command":
        return None
    name = node.child_by_field_name("name")
    return _text(name).rsplit("/", 1)[-1] if name is not None else None


def _variable(node: Node) -> str | None:
    for child in node.children:
        if child.type in ("variable_name", "special_variable_name"):
            return _text(child)
    return None


class _Script:
    def __init__(self, root: Node) -> None:
        # name → [(where, constant value or None)], in document order
        self.assignments: dict[str, list[tuple[int, str | None]]] = {}
        for node in _descendants(root):
            if node.type == "variable_assignment":
                name = node.child_by_field_name("name")
                value = node.child_by_field_name("value")
                if name is None or name.type != "variable_name":
                    continue
                constant = "" if value is None else self.word(value, node.start_byte)
                if any(c.type == "+=" for c in node.children):
                    constant = None
                self.assignments.setdefault(_text(name), []).append((node.start_byte, constant))

    def lookup(self, name: str, at: int) -> str | None:
        """The constant ``name`` holds at byte ``at``: the last assignment before it, or (for
        a function defined above its settings) the one constant every assignment gives it."""
        assigned = self.assignments.get(name, [])
        before = [value for where, value in assigned if where < at]
        if before:
            return before[-1]
        values = {value for _, value in assigned}
        return values.pop() if len(values) == 1 else None

    def word(self, node: Node, at: int) -> str | None:
        """The literal value of a shell word, with variables the script sets to constants
        substituted; ``None`` when it depends on anything else."""
        kind = node.type
        if kind in ("word", "number"):
            return _text(node)
        if kind == "raw_string":
            return _text(node)[1:-1]
        if kind in ("string", "concatenation"):
            parts = []
            for child in node.children:
                if child.type == '"':
                    continue
                part = _text(child) if child.type == "string_content" else self.word(child, at)
                if part is None:
                    return None
                parts.append(part)
            return "".join(parts)
        if kind == "simple_expansion":
            name = _variable(node)
            return self.lookup(name, at) if name else None
        if kind == "expansion":
            return self._expansion(node, at)
        return None

    def _expansion(self, node: Node, at: int) -> str | None:
        inner = node.children[1:-1]  # between ${ and }
        if not inner or inner[0].type != "variable_name":
            return None
        value = self.lookup(_text(inner[0]), at)
        if len(inner) == 1:
            return value
        operator = inner[1]
        if _text(operator) not in DEFAULTING:
            return None
        if value:
            return value
        default = [self.word(part, at) for part in inner[2:]]
        return None if None in default else "".join(d for d in default if d is not None)

    def wait(self, node: Node) -> Wait:
        words = [
            self.word(argument, node.start_byte)
            for argument in node.children_by_field_name("argument")
        ]
        return Wait(
            line=node.start_point[0] + 1,
            text=one_line(_text(node)),
            seconds=None if None in words else duration_seconds(w for w in words if w),
            polling=any(_polling(loop) for loop in _loops_around(node)),
        )


def _loops_around(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        if parent.type in LOOPS:
            yield parent
        parent = parent.parent


def _polling(loop: Node) -> bool:
    """Does ``loop`` wait for something to become ready (or retry until it works)? Either its
    condition looks at the world (`until curl …`, `while ! pg_isready`, a variable the body sets
    from such a look), or its body leaves the loop when such a look succeeds (`curl … && break`,
    `if [ "$(docker inspect …)" = healthy ]; then return 0; fi`)."""
    body = loop.child_by_field_name("body")
    if body is None:
        return False
    watched = _set_in(body)
    if loop.type == "while_statement":
        conditions = loop.children_by_field_name("condition")
        if any(_probes(c, frozenset()) for c in conditions):
            return True
        if _probes(body, frozenset()) and any(_probes(c, watched) for c in conditions):
            return True
    for node in _descendants(body):
        if _success_exit(node, loop):
            guard = _guard(node, body)
            if guard is not None and _probes(guard, watched):
                return True
    return False


def _set_in(body: Node) -> frozenset[str]:
    """Variables the loop body sets, except counters (`i=$((i+1))`)."""
    names = set()
    for node in _descendants(body):
        if node.type == "variable_assignment":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if name is not None and (value is None or value.type != "arithmetic_expansion"):
                names.add(_text(name))
    return frozenset(names)


def _probes(node: Node, watched: frozenset[str]) -> bool:
    """Does ``node`` look at the world: run a command, test a file, read a watched variable?"""
    for part in _descendants(node):
        name = _command_name(part)
        if name is not None and name not in NOT_PROBES:
            return True
        if part.type == "test_operator" and _text(part) in FILE_TESTS:
            return True
        if part.type in ("simple_expansion", "expansion"):
            variable = _variable(part)
            if variable == "?" or variable in watched:
                return True
    return False


def _success_exit(node: Node, loop: Node) -> bool:
    name = _command_name(node)
    arguments = [_text(a) for a in node.children_by_field_name("argument")]
    if name == "break":
        return next(_loops_around(node), None) == loop
    if name == "return":
        return arguments in ([], ["0"])
    return name == "exit" and arguments == ["0"]


def _guard(node: Node, body: Node) -> Node | None:
    """The construct that decides whether ``node`` runs (an `&&` list, an if, a case)."""
    parent = node.parent
    while parent is not None and parent != body:
        if parent.type in GUARDS:
            return parent
        parent = parent.parent
    return None
