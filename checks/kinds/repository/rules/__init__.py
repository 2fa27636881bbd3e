"""The repository rules: each module in this package registers its rules with ``@rule``.

A rule declares the config keys it takes, cleans them at catalog import (``validate``) and judges a
``SourceTree`` (``evaluate``)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...base import Outcome
from ..tree import SourceTree

Validate = Callable[[Mapping[str, Any]], dict[str, Any]]
Evaluate = Callable[[SourceTree, Mapping[str, Any]], Outcome]


@dataclass(frozen=True)
class Rule:
    name: str
    keys: frozenset[str]
    validate: Validate
    evaluate: Evaluate


RULES: dict[str, Rule] = {}


def _no_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    return dict(config)


def rule(
    name: str, *, keys: Iterable[str] = (), validate: Validate = _no_settings
) -> Callable[[Evaluate], Evaluate]:
    """Register ``evaluate`` as the rule ``name``; ``keys`` are its settings besides rule/path."""

    def register(evaluate: Evaluate) -> Evaluate:
        RULES[name] = Rule(name, frozenset(keys), validate, evaluate)
        return evaluate

    return register


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
