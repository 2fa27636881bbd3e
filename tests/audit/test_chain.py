from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.actors import Actor
from audit.chain import GENESIS_HASH, event_hash, verify_chain
from audit.models import AppendOnlyError, AuditEvent
from audit.services import record

pytestmark = pytest.mark.django_db

ALICE = Actor.of_system("test")


def _events(n: int) -> list[AuditEvent]:
    return [
        record(actor=ALICE, action="thing.done", after={"n": i, "ratio": 0.5}) for i in range(n)
    ]


def _raw(sql: str, params: list | None = None) -> None:
    """Tamper as a superuser would: with the append-only trigger switched off."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params or [])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def _verify_fails_at(seq: int) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit")
    assert failure.value.returncode == 1
    message = str(failure.value)
    assert f"event #{seq} " in message
    return message


def test_events_are_chained_from_genesis():
    first, second, third = _events(3)
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    stored = AuditEvent.objects.get(pk=second.pk)
    assert event_hash(stored) == stored.hash  # the hash survives the database round trip


def test_verify_audit_reports_an_intact_chain(capsys):
    _events(5)
    call_command("verify_audit")
    assert "audit chain intact: 5 events" in capsys.readouterr().out


def test_an_empty_chain_is_intact():
    assert verify_chain().ok


def test_it_catches_an_altered_event():
    events = _events(4)
    _raw("UPDATE audit_auditevent SET actor = 'mallory' WHERE id = %s", [events[1].pk])
    assert "altered" in _verify_fails_at(2)


def test_it_catches_altered_json():
    events = _events(3)
    _raw(
        """UPDATE audit_auditevent SET "after" = '{"n": 99, "ratio": "0.5"}' WHERE id = %s""",
        [events[2].pk],
    )
    _verify_fails_at(3)


def test_it_catches_a_deleted_event():
    events = _events(4)
    _raw("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    assert "deleted" in _verify_fails_at(3)


def test_it_catches_an_inserted_event():
    events = _events(3)
    _raw("UPDATE audit_auditevent SET seq = seq + 1000 WHERE seq >= 2")
    _raw("UPDATE audit_auditevent SET seq = seq - 999 WHERE seq >= 1000")
    forged = AuditEvent(
        seq=2,
        occurred_at=events[1].occurred_at,
        actor="mallory",
        action="thing.done",
        prev_hash=events[0].hash,
    )
    forged.hash = event_hash(forged)
    _raw(
        "INSERT INTO audit_auditevent (seq, occurred_at, actor, action, object_type, object_id,"
        " object_repr, outcome, message, ip, request_id, prev_hash, hash)"
        " VALUES (2, %s, 'mallory', 'thing.done', '', '', '', 'success', '', '', '', %s, %s)",
        [forged.occurred_at, forged.prev_hash, forged.hash],
    )
    # The forged row links correctly to #1, but the shifted #3 no longer matches its hash.
    _verify_fails_at(3)


def test_it_catches_reordered_events():
    events = _events(4)
    _raw("UPDATE audit_auditevent SET seq = 1000 WHERE id = %s", [events[1].pk])
    _raw("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [events[2].pk])
    _raw("UPDATE audit_auditevent SET seq = 3 WHERE id = %s", [events[1].pk])
    _verify_fails_at(2)


def test_a_recorded_head_catches_events_deleted_from_the_end(capsys):
    _events(3)
    call_command("verify_audit")
    head = capsys.readouterr().out.split("head ")[1].split()[0]
    call_command("verify_audit", head=head)
    _raw("DELETE FROM audit_auditevent WHERE seq = 3")
    with pytest.raises(CommandError, match="head #3 is missing"):
        call_command("verify_audit", head=head)


def test_the_database_refuses_update_and_delete():
    event = _events(1)[0]
    for sql in (
        "UPDATE audit_auditevent SET actor = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])


def test_the_orm_refuses_update_and_delete():
    event = _events(1)[0]
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(actor="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def _change_that_fails() -> None:
    with transaction.atomic():
        record(actor=ALICE, action="thing.done")
        raise RuntimeError("the change failed")


def test_an_event_rolls_back_with_its_change():
    with pytest.raises(RuntimeError):
        _change_that_fails()
    assert not AuditEvent.objects.exists()
    assert verify_chain().ok


def test_the_database_refuses_truncate():
    _events(2)
    with (
        pytest.raises(DatabaseError, match="TRUNCATE on audit_auditevent refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_table_through_the_owners_path():
    _events(2)
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()


def test_runtime_grants_refuse_the_owner_and_odd_role_names():
    with pytest.raises(CommandError, match="must not be the owner"):
        call_command("runtime_grants", connection.get_connection_params()["user"])
    with pytest.raises(CommandError, match="not a plain role name"):
        call_command("runtime_grants", 'app"; DROP TABLE x; --')
