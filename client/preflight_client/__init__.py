"""The ``preflight`` command: Preflight's REST API for CI pipelines, standard library only."""

from __future__ import annotations

__version__ = "0.1.0"
