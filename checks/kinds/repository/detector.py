"""detect-secrets run in-process over a source tree, honouring the repository's own allow-list:
its baseline (``.secrets.baseline``) and the inline ``pragma: allowlist secret``.

detect-secrets keeps its configuration in a process-wide singleton, and repository checks run
concurrently in threads, so this module never touches that singleton: it builds the plugins
itself (from the baseline's ``plugins_used`` when there is one) and applies the detector's
default filters directly. Nothing here verifies a secret with its provider (that would send it
over the network), loads a plugin or filter from a file the repository names (that would run the
repository's code), or keeps a secret's value: only its type and place leave this module."""

from __future__ import annotations

import inspect
import json
import math
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from detect_secrets.core import baseline as baseline_format
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.filters import allowlist, heuristic
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
from detect_secrets.plugins.keyword import DENYLIST, KeywordDetector
from detect_secrets.transformers import get_transformed_file
from detect_secrets.util.code_snippet import get_code_snippet

from .tree import MAX_FILE_BYTES, MAX_FILES, SourceTree

# A public IP address is not a secret: left out unless a baseline asks for it.
NOT_DEFAULT = frozenset({"IPPublicDetector"})
SCAN_SECONDS = 20.0  # below the default check timeout, so a big tree ends as a clear warning
BINARY_PROBE = 8192
KEYWORDS = re.compile("|".join(DENYLIST), re.IGNORECASE)
# The keyword plugin's words as plain strings (``api_?key`` → apikey, api_key): finding them in
# the lower-cased text is many times faster than the case-insensitive pattern.
KEYWORD_WORDS = tuple(
    sorted({w.replace("_?", sep) for w in DENYLIST for sep in ("", "_")}, key=len)
)
# Generated and translation files: their sources are scanned, they only add noise and time.
GENERATED = re.compile(r"\.(?:min\.js|min\.css|map|po|pot|svg)$", re.IGNORECASE)
STRING_ANCHORED = re.compile(r"\\[AZ]")  # \A, \Z: the start or end of the line itself

FILE_FILTERS: tuple[Callable[[str], bool], ...] = (
    heuristic.is_lock_file,
    heuristic.is_swagger_file,
    heuristic.is_non_text_file,
)


class BaselineError(ValueError):
    pass


@dataclass(frozen=True)
class Detected:
    file: str
    line: int
    type: str


@dataclass
class Baseline:
    """What the repository's ``.secrets.baseline`` allows and how it configured the detector."""

    name: str = ""
    allowed: set[tuple[str, str, str]] = field(default_factory=set)  # file, type, hash
    plugins: list[dict[str, Any]] | None = None
    exclude_files: list[re.Pattern[str]] = field(default_factory=list)
    exclude_lines: list[re.Pattern[str]] = field(default_factory=list)
    exclude_secrets: list[re.Pattern[str]] = field(default_factory=list)

    def allows(self, secret: PotentialSecret) -> bool:
        return (secret.filename, secret.type, secret.secret_hash) in self.allowed


@dataclass
class Scan:
    detected: list[Detected] = field(default_factory=list)
    allowed: int = 0
    files: int = 0
    skipped: int = 0  # binary, too large or excluded
    complete: bool = True  # False: the time or file budget ran out


def read_baseline(tree: SourceTree, name: str) -> Baseline:
    path = tree.root / name
    if not path.is_file() or not tree.contains(path):
        return Baseline()
    try:
        raw = json.loads(tree.read(path))
        if not isinstance(raw, dict) or not isinstance(raw.get("results", {}), dict):
            raise BaselineError("not a detect-secrets baseline")
        data = baseline_format.upgrade(raw) if "version" in raw else raw
    except (ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"{name} is not a readable detect-secrets baseline: {exc}") from None
    result = Baseline(name=name)
    for file, secrets in (data.get("results") or {}).items():
        for secret in secrets if isinstance(secrets, list) else []:
            # An entry an auditor marked as a real secret is not allowed: it must be removed.
            if isinstance(secret, dict) and secret.get("is_secret") is not True:
                key = (_normal(file), str(secret.get("type")), str(secret.get("hashed_secret")))
                result.allowed.add(key)
    plugins = data.get("plugins_used")
    if isinstance(plugins, list):
        result.plugins = [p for p in plugins if isinstance(p, dict) and "path" not in p]
    exclusions = {
        "detect_secrets.filters.regex.should_exclude_file": result.exclude_files,
        "detect_secrets.filters.regex.should_exclude_line": result.exclude_lines,
        "detect_secrets.filters.regex.should_exclude_secret": result.exclude_secrets,
    }
    for entry in data.get("filters_used") or []:
        target = exclusions.get(str(entry.get("path"))) if isinstance(entry, dict) else None
        if target is not None:
            try:
                target.extend(re.compile(p) for p in entry.get("pattern") or [])
            except re.error as exc:
                raise BaselineError(f"{name}: a pattern does not compile: {exc}") from None
    return result


def _normal(file: str) -> str:
    return file.replace("\\", "/").removeprefix("./")


def plugins_for(baseline: Baseline) -> list[BasePlugin]:
    # The library types its return with an unbound TypeVar; name the type it really holds.
    by_type: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
    classes = {plugin_class.__name__: plugin_class for plugin_class in by_type.values()}
    if baseline.plugins is None:
        return [plugin() for name, plugin in sorted(classes.items()) if name not in NOT_DEFAULT]
    plugins = []
    for config in baseline.plugins:
        cls = classes.get(str(config.get("name")))
        if cls is None:
            continue  # a plugin this version does not ship: nothing to run
        accepted = inspect.signature(cls.__init__).parameters
        plugins.append(cls(**{k: v for k, v in config.items() if k in accepted and k != "self"}))
    return plugins


def scan(tree: SourceTree, baseline: Baseline, exclude: list[str]) -> Scan:
    result = Scan()
    plugins = plugins_for(baseline)
    excluded = {p.resolve() for pattern in exclude for p in tree.glob([pattern])}
    deadline = time.monotonic() + SCAN_SECONDS
    seen = 0
    for path in tree.walk():
        seen += 1
        name = tree.relative(path)
        if name == baseline.name or path.resolve() in excluded or _skipped(path, name, baseline):
            result.skipped += 1
            continue
        if time.monotonic() > deadline:
            result.complete = False
            break
        result.files += 1
        for secret in _scan_file(path, name, plugins, baseline):
            if baseline.allows(secret):
                result.allowed += 1
            else:
                result.detected.append(Detected(name, secret.line_number, secret.type))
    if seen >= MAX_FILES:
        result.complete = False  # the walk stops at MAX_FILES: what lies beyond is unscanned
    result.detected = sorted(set(result.detected), key=lambda d: (d.file, d.line, d.type))
    return result


def _skipped(path: Path, name: str, baseline: Baseline) -> bool:
    if any(f(name) for f in FILE_FILTERS) or GENERATED.search(name):
        return True
    if any(p.search(name) for p in baseline.exclude_files):
        return True
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return True
        with path.open("rb") as handle:
            return b"\0" in handle.read(BINARY_PROBE)
    except OSError:
        return True


def _scan_file(
    path: Path, name: str, plugins: list[BasePlugin], baseline: Baseline
) -> Iterator[PotentialSecret]:
    """The file's secrets as detect-secrets' own scan finds them: first the file's lines (or a
    transformer's view of them), then, if that found nothing, the eager transformers' view."""
    try:
        with path.open(encoding="utf-8") as handle:
            lines = get_transformed_file(handle) or handle.readlines()  # type: ignore[arg-type]
            found = list(_scan_lines(lines, name, plugins, baseline))
            if not found:
                handle.seek(0)
                eager = get_transformed_file(handle, use_eager_transformers=True)  # type: ignore[arg-type]
                found = list(_scan_lines(eager or [], name, plugins, baseline))
    except (UnicodeDecodeError, OSError):
        return
    yield from found


def _scan_lines(
    lines: list[str], name: str, plugins: list[BasePlugin], baseline: Baseline
) -> Iterator[PotentialSecret]:
    """detect-secrets' line loop, run only on the lines where a plugin can find something.

    Which lines those are comes from one search of each plugin's patterns over the whole text
    (``^``/``$`` as line anchors): every match a pattern has in a line it also has in the text,
    so the result is the detector's own, at a fraction of the work — most lines of a tree hold
    no candidate at all."""
    content = "".join(lines)
    starts = list(accumulate((len(line) for line in lines), initial=0))
    wanted: dict[int, list[BasePlugin]] = {}
    for plugin in plugins:
        numbers = _candidate_lines(plugin, content, starts)
        for number in range(1, len(lines) + 1) if numbers is None else numbers:
            wanted.setdefault(number, []).append(plugin)
    for number in sorted(wanted):
        line = lines[number - 1].rstrip()
        context = get_code_snippet(lines=lines, line_number=number)
        found = [
            (plugin, secret)
            for plugin in wanted[number]
            for secret in plugin.analyze_line(
                filename=name, line=line, line_number=number, context=context
            )
        ]
        if not found or _line_filtered(name, line, context, baseline):
            continue
        for plugin, secret in found:
            value = secret.secret_value or ""
            if _filtered(value, line, plugin) or any(
                p.search(value) for p in baseline.exclude_secrets
            ):
                continue
            secret.secret_value = None  # only the hash stays, for the baseline
            yield secret


def _candidate_lines(plugin: BasePlugin, content: str, starts: list[int]) -> set[int] | None:
    """The (1-based) lines a plugin's patterns touch in ``content``; None: every line."""
    if isinstance(plugin, KeywordDetector):
        return _keyword_lines(content, starts)
    if isinstance(plugin, HighEntropyStringsPlugin):
        patterns: list[re.Pattern[str]] = [_long_strings(plugin)]
    elif isinstance(plugin, RegexBasedDetector):
        patterns = list(plugin.denylist)
    else:
        return None
    if any(STRING_ANCHORED.search(pattern.pattern) for pattern in patterns):
        return None
    lines: set[int] = set()
    for pattern in patterns:
        # With MULTILINE, ^ and $ match at every line's start and end, as they do per line.
        for match in _multiline(pattern).finditer(content):
            first = bisect_right(starts, match.start())
            last = bisect_right(starts, max(match.end() - 1, match.start()))
            lines.update(range(first, last + 1))
    return lines


def _keyword_lines(content: str, starts: list[int]) -> set[int]:
    lowered = content.lower()
    if len(lowered) != len(content):  # a character whose lower case is longer: no shortcut
        return {bisect_right(starts, m.start()) for m in KEYWORDS.finditer(content)}
    lines: set[int] = set()
    for word in KEYWORD_WORDS:
        at = lowered.find(word)
        while at >= 0:
            lines.add(bisect_right(starts, at))
            at = lowered.find(word, at + 1)
    return lines


def _long_strings(plugin: HighEntropyStringsPlugin) -> re.Pattern[str]:
    """The plugin's quoted-string pattern, for strings long enough to pass its entropy limit:
    a string of n characters has at most log2(n) bits of entropy per character."""
    shortest = math.floor(2**plugin.entropy_limit) + 1
    return _cached_long_strings(plugin.charset, shortest)


@cache
def _cached_long_strings(charset: str, shortest: int) -> re.Pattern[str]:
    return re.compile(rf"(['\"])([{re.escape(charset)}]{{{shortest},}})(\1)")


@cache
def _multiline(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(pattern.pattern, pattern.flags | re.MULTILINE)


def _line_filtered(name: str, line: str, context: Any, baseline: Baseline) -> bool:
    return (
        allowlist.is_line_allowlisted(name, line, context)
        or heuristic.is_indirect_reference(line)
        or any(p.search(line) for p in baseline.exclude_lines)
    )


def _filtered(value: str, line: str, plugin: BasePlugin) -> bool:
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line, plugin)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
    )
