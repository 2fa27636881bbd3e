"""Check kinds: each module in this package defines one ``Kind`` and registers it.

A kind validates a check's ``config`` when the catalog is imported, and evaluates a check during
a run. Adding a kind means adding one module here (and its tests): the package discovers it."""

from __future__ import annotations

import importlib
import pkgutil

from .base import REGISTRY, CheckContext, ConfigError, Kind, Outcome, get_kind

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

KIND_NAMES = tuple(sorted(REGISTRY))

__all__ = ["KIND_NAMES", "REGISTRY", "CheckContext", "ConfigError", "Kind", "Outcome", "get_kind"]
