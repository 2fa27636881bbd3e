"""Anchors as an attacker meets them: the table's owner tampers with raw SQL and the trigger
switched off, recomputing hashes where that helps, and verify_audit still catches it because
the newest signed anchor is no longer in the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from moto.server import ThreadedMotoServer

from audit.actors import Actor
from audit.anchors import STORE_FILE, Anchor, AnchorError, anchor_head, store
from audit.chain import event_hash, verify_chain
from audit.models import AuditEvent
from audit.services import record
from audit.tasks import anchor_chain
from scripts.throwaway import free_port

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = Actor.of_system("test")


def _events(n: int) -> list[AuditEvent]:
    return [record(actor=SYSTEM, action="thing.done", after={"n": i}) for i in range(n)]


def _as_owner(*statements: tuple[str, list]) -> None:
    """Tamper as the table's owner can: with the append-only trigger switched off."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def _forge(seq: int, prev_hash: str, actor: str = "mallory") -> AuditEvent:
    """An event with a correct hash, as anyone who reads the code can compute one."""
    forged = AuditEvent(
        seq=seq,
        occurred_at=AuditEvent.objects.get(seq=1).occurred_at + timedelta(seconds=seq),
        actor=actor,
        action="thing.done",
        prev_hash=prev_hash,
    )
    forged.hash = event_hash(forged)
    return forged


def _insert(event: AuditEvent) -> tuple[str, list]:
    return (
        "INSERT INTO audit_auditevent (seq, occurred_at, actor, action, object_type, object_id,"
        " object_repr, outcome, message, ip, request_id, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, '', '', '', 'success', '', '', '', %s, %s)",
        [event.seq, event.occurred_at, event.actor, event.action, event.prev_hash, event.hash],
    )


def _verify_fails() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit")
    assert failure.value.returncode == 1
    return str(failure.value)


def test_audit_anchor_records_the_head_outside_the_database(audit_anchor_store, capsys):
    events = _events(3)
    call_command("audit_anchor")
    assert f"anchored 3:{events[-1].hash}" in capsys.readouterr().out
    lines = (audit_anchor_store / STORE_FILE).read_text().splitlines()
    assert len(lines) == 1
    stored = json.loads(lines[0])
    assert (stored["seq"], stored["hash"]) == (3, events[-1].hash)
    assert stored["signature"].startswith("hmac-sha256:")
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "audit chain intact: 3 events" in out
    assert "contains the newest anchor (#3" in out


def test_events_deleted_from_the_end_after_an_anchor_are_caught():
    _events(5)
    anchor_head()
    _as_owner(("DELETE FROM audit_auditevent WHERE seq >= 4", []))
    assert verify_chain().ok  # the shortened chain is consistent in itself
    message = _verify_fails()
    assert "anchored event #5" in message
    assert "is missing (the chain ends at #3): events were deleted from the end" in message


def test_an_emptied_table_with_anchors_is_caught():
    _events(2)
    anchor_head()
    _as_owner(("DELETE FROM audit_auditevent", []))
    assert "the audit table is empty but 1 anchor(s) exist" in _verify_fails()


def test_a_chain_rewritten_with_recomputed_hashes_does_not_match_the_anchor():
    events = _events(5)
    anchor_head()
    # Rewrite from #3 on: alter it and recompute every hash after it, so each link holds.
    statements = [("DELETE FROM audit_auditevent WHERE seq >= 3", [])]
    prev = events[1].hash
    for seq in range(3, 6):
        forged = _forge(seq, prev, actor="mallory" if seq == 3 else "system:test")
        statements.append(_insert(forged))
        prev = forged.hash
    _as_owner(*statements)
    assert verify_chain().ok
    assert "event #5 is not the one anchored" in _verify_fails()


def test_forged_events_appended_after_a_deletion_cannot_reach_the_anchored_head():
    events = _events(4)
    anchor_head()
    # Delete #4 and append forged events up to and past the anchored seq.
    statements = [("DELETE FROM audit_auditevent WHERE seq = 4", [])]
    prev = events[2].hash
    for seq in range(4, 8):
        forged = _forge(seq, prev)
        statements.append(_insert(forged))
        prev = forged.hash
    _as_owner(*statements)
    assert verify_chain().ok
    assert "event #4 is not the one anchored" in _verify_fails()


def test_an_anchor_with_a_wrong_signature_fails_verification(audit_anchor_store):
    events = _events(3)
    anchor_head()
    path = audit_anchor_store / STORE_FILE
    # An anchor moved back to an earlier head, as if the last events had never existed.
    forged = json.loads(path.read_text())
    forged.update(seq=2, hash=events[1].hash)
    path.write_text(json.dumps(forged) + "\n")
    message = _verify_fails()
    assert "anchor 1 of 1" in message
    assert "has a wrong signature" in message


def test_anchors_signed_with_another_key_fail_verification(settings):
    _events(2)
    anchor_head()
    settings.PREFLIGHT_AUDIT_ANCHOR_KEY = "another-" + "k" * 50
    assert "has a wrong signature" in _verify_fails()


def test_a_shortened_chain_is_not_anchored(audit_anchor_store):
    _events(4)
    anchor_head()
    _as_owner(("DELETE FROM audit_auditevent WHERE seq = 4", []))
    record(actor=SYSTEM, action="thing.done")  # a new #4, linked to #3: the chain looks fine
    before = (audit_anchor_store / STORE_FILE).read_text()
    with pytest.raises(CommandError, match=r"not anchored: event #4 is not the one anchored"):
        call_command("audit_anchor")
    assert (audit_anchor_store / STORE_FILE).read_text() == before


def test_an_unchanged_head_is_not_anchored_twice(audit_anchor_store, capsys):
    _events(2)
    first, written = anchor_head()
    assert written
    again, written = anchor_head()
    assert (again, written) == (first, False)
    _events(1)
    newer, written = anchor_head()
    assert written
    assert newer is not None
    assert newer.seq == 3
    anchors = store().read()
    assert [a.seq for a in anchors] == [2, 3]


def test_an_empty_log_has_nothing_to_anchor(audit_anchor_store, capsys):
    call_command("audit_anchor")
    assert "nothing to anchor" in capsys.readouterr().out
    assert not (audit_anchor_store / STORE_FILE).exists()
    call_command("verify_audit")
    assert "no anchor yet" in capsys.readouterr().out


def test_anchoring_needs_the_key(settings):
    _events(1)
    settings.PREFLIGHT_AUDIT_ANCHOR_KEY = ""
    with pytest.raises(AnchorError, match="PREFLIGHT_AUDIT_ANCHOR_KEY is not set"):
        anchor_head()


def test_a_corrupt_store_is_named(audit_anchor_store):
    _events(1)
    anchor_head()
    with (audit_anchor_store / STORE_FILE).open("a") as handle:
        handle.write('{"seq": "x"}\n')
    message = _verify_fails()
    assert f"line 2 of {audit_anchor_store / STORE_FILE} is not an anchor" in message


def test_the_beat_task_anchors_every_ten_minutes(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == anchor_chain.name]
    assert [e["schedule"] for e in entries] == [timedelta(minutes=10)]
    events = _events(2)
    assert anchor_chain() == 2
    assert store().read()[-1].hash == events[-1].hash


def test_make_runs_settings_keep_the_key_and_the_store_in_the_var_dir(tmp_path):
    """Like its secret key, `make run` generates the anchor key once into var/, where the one
    anchor store of the installation lives too (whatever database it uses)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "PREFLIGHT_AUDIT_ANCHOR_KEY",
            "PREFLIGHT_AUDIT_ANCHOR_DIR",
        }
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "preflight.settings.local",
        "PREFLIGHT_VAR_DIR": str(tmp_path),
    }
    show = (
        "from django.conf import settings; "
        "print(settings.PREFLIGHT_AUDIT_ANCHOR_KEY, settings.PREFLIGHT_AUDIT_ANCHOR_DIR)"
    )
    runs = [
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", show],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    key_file = tmp_path / "audit-anchor-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 50
    assert key != (tmp_path / "secret-key").read_text().strip()
    expected = f"{key} {tmp_path / 'audit-anchors'}"
    assert [r.stdout.strip().splitlines()[-1] for r in runs] == [
        expected,
        expected,
    ]  # generated once, then kept


@pytest.fixture
def s3_bucket(settings, monkeypatch):  # type: ignore[no-untyped-def]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    settings.PREFLIGHT_BACKUP_S3_ENDPOINT = f"http://{host}:{port}"
    settings.PREFLIGHT_AUDIT_ANCHOR_S3_BUCKET = "witness"
    settings.PREFLIGHT_AUDIT_ANCHOR_S3_PREFIX = "preflight/anchors"
    client = boto3.client("s3", endpoint_url=settings.PREFLIGHT_BACKUP_S3_ENDPOINT)
    client.create_bucket(Bucket="witness")
    yield client
    server.stop()


def test_each_anchor_is_copied_to_the_s3_bucket(s3_bucket):
    _events(2)
    anchor, _ = anchor_head()
    assert anchor is not None
    listed = s3_bucket.list_objects_v2(Bucket="witness")["Contents"]
    assert len(listed) == 1
    key = listed[0]["Key"]
    assert key.startswith(f"preflight/anchors/{anchor.anchored_at:%Y/%m/%d}/")
    copy = Anchor.from_dict(
        json.loads(s3_bucket.get_object(Bucket="witness", Key=key)["Body"].read())
    )
    assert copy == anchor
    # The copy is a signed witness: its head can be checked against the chain later.
    call_command("verify_audit", head=f"{copy.seq}:{copy.hash}")


def test_an_unreachable_bucket_fails_the_anchoring_after_the_local_anchor(s3_bucket, settings):
    settings.PREFLIGHT_AUDIT_ANCHOR_S3_BUCKET = "no-such-bucket"
    _events(1)
    with pytest.raises(
        CommandError,
        match=r"anchored #1, .* but Cannot upload to s3://no-such-bucket/.*NoSuchBucket",
    ):
        call_command("audit_anchor")
    assert [a.seq for a in store().read()] == [1]
