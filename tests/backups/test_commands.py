from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from backups.models import Backup, RestoreDrill

pytestmark = pytest.mark.django_db


def test_the_backup_and_drill_commands_take_and_restore_a_backup(database):
    out = io.StringIO()
    call_command("backup", "shop", "main", stdout=out)
    backup = Backup.objects.get()
    assert out.getvalue().startswith(f"Backup #{backup.pk} of shop/main: ")
    assert "3 tables" in out.getvalue()

    out = io.StringIO()
    call_command("drill", "shop", "main", stdout=out)
    drill = RestoreDrill.objects.get()
    assert drill.status == RestoreDrill.Status.PASSED
    assert drill.requested_by_label == "system:command-line"
    assert "ok   rows in public.orders: 450 rows" in out.getvalue()
    assert f"Restore drill #{drill.pk} of shop/main passed: backup #{backup.pk}" in out.getvalue()


def test_a_failing_drill_exits_non_zero_with_the_reason(database):
    call_command("backup", "shop", "main", stdout=io.StringIO())
    database.validation_sql = [{"name": "impossible", "sql": "SELECT false"}]
    database.save()
    with pytest.raises(CommandError, match="failed: Validation failed: does not hold"):
        call_command("drill", "shop", "main", stdout=io.StringIO())


def test_an_unknown_database_is_named_with_the_known_ones(database):
    with pytest.raises(CommandError, match=r"No database 'nope' in shop \(known: main\)"):
        call_command("drill", "shop", "nope")
