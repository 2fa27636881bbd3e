"""Every lock is taken through core/locking.py, so the one order it documents is the order
everywhere; and every model it locks has a place in that order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps

from core import locking

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "audit", "releases", "checks", "backups", "api", "preflight", "demo")
LOCKING = re.compile(r"select_for_update|pg_(try_)?advisory|LOCK TABLE|FOR UPDATE|FOR SHARE", re.I)


def sources() -> list[Path]:
    return [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path != ROOT / "core" / "locking.py"
    ]


def test_nothing_but_the_locking_module_takes_a_lock():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if LOCKING.search(line)
    ]
    assert found == []


def test_every_locked_model_has_a_rank_and_an_unranked_one_is_refused():
    for label in locking.RANKS:
        apps.get_model(label)  # names a model that exists
    assert locking.Rank.ENVIRONMENT < locking.Rank.RUN < locking.Rank.DEPLOYMENT
    assert max(locking.Rank) is locking.Rank.AUDIT_CHAIN
    with pytest.raises(LookupError, match="has no place in the lock order"):
        locking.rows(apps.get_model("releases.Release").objects.all())
