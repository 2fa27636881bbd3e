"""Anchors: the audit chain's head, signed and kept outside the audit table.

An anchor is an event's ``seq`` and ``hash`` and the time it was taken, signed with HMAC-SHA256
and PREFLIGHT_AUDIT_ANCHOR_KEY — a key that is not in the database. Whoever can rewrite the
table (its owner, a superuser with the trigger disabled) can recompute every hash of the chain,
but cannot sign an anchor. So events deleted from the end, a chain rewritten from any point with
recomputed hashes, forged events appended in place of real ones or an emptied table all leave a
chain that no longer contains the newest signed anchor, and ``verify_audit`` says so.

The store is one file of JSON lines (``anchors.jsonl``) in PREFLIGHT_AUDIT_ANCHOR_DIR, one per
installation; copies go to an S3 bucket and to webhooks subscribed to ``audit.anchored`` when
those are configured, so a store deleted with the machine still has witnesses elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.dispatch import Signal
from django.utils import timezone

from core import s3

from .chain import ChainReport, event_hash, iter_chain, verify_chain, verify_events
from .models import AuditEvent

STORE_FILE = "anchors.jsonl"
SIGNATURE_PREFIX = "hmac-sha256:"

# Sent after an anchor was written to the store (sender=Anchor, anchor=Anchor). The release app
# answers it with the ``audit.anchored`` webhook event; audit cannot import the webhooks itself.
anchored = Signal()


class AnchorError(Exception):
    """Anchoring or reading anchors failed; the message says what to do."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    anchored_at: datetime
    signature: str = ""

    def _message(self) -> bytes:
        return f"preflight-audit-anchor:v1:{self.seq}:{self.hash}:{self.anchored_at.isoformat()}".encode()

    def _expected_signature(self, key: bytes) -> str:
        return SIGNATURE_PREFIX + hmac.new(key, self._message(), hashlib.sha256).hexdigest()

    def signed(self, key: bytes) -> Anchor:
        return Anchor(self.seq, self.hash, self.anchored_at, self._expected_signature(key))

    def signature_valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.signature, self._expected_signature(key))

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "anchored_at": self.anchored_at.isoformat(),
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Anchor:
        try:
            anchored_at = datetime.fromisoformat(data["anchored_at"])
            anchor = cls(int(data["seq"]), str(data["hash"]), anchored_at, str(data["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an anchor ({exc})") from None
        if anchored_at.tzinfo is None:
            raise ValueError("not an anchor (its time has no time zone)")
        return anchor

    def describe(self) -> str:
        return f"#{self.seq}, anchored {self.anchored_at:%Y-%m-%d %H:%M:%S} UTC"


def anchor_key() -> bytes:
    key = settings.PREFLIGHT_AUDIT_ANCHOR_KEY
    if not key:
        raise AnchorError(
            "PREFLIGHT_AUDIT_ANCHOR_KEY is not set: anchors cannot be signed or checked"
        )
    return str(key).encode()


class AnchorStore:
    """The installation's anchors, oldest first, one JSON object per line."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STORE_FILE

    def read(self) -> list[Anchor]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AnchorError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        anchors = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                anchors.append(Anchor.from_dict(json.loads(line)))
            except ValueError as exc:
                raise AnchorError(f"line {number} of {self.path} is {exc}") from None
        return anchors

    def append(self, anchor: Anchor) -> None:
        line = json.dumps(anchor.as_dict(), sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One anchoring at a time (beat and an operator may run it together): each new anchor
        must extend the one before it."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.directory.chmod(0o700)
            with (self.directory / ".lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield
        except OSError as exc:
            raise AnchorError(f"cannot write to {self.directory}: {exc.strerror or exc}") from exc


def store() -> AnchorStore:
    return AnchorStore(Path(settings.PREFLIGHT_AUDIT_ANCHOR_DIR))


@dataclass(frozen=True)
class AnchoredReport:
    """The chain's own verification and how it stands against the newest anchor."""

    chain: ChainReport
    anchors: int = 0
    newest: Anchor | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problem

    @property
    def checked(self) -> int:
        return self.chain.checked

    @property
    def head_seq(self) -> int:
        return self.chain.head_seq

    @property
    def head_hash(self) -> str:
        return self.chain.head_hash

    def describe(self) -> str:
        if not self.chain.ok:
            return self.chain.describe()
        if self.problem:
            return f"audit chain broken: {self.problem}"
        if self.newest is None:
            return f"{self.chain.describe()}\nno anchor yet (run audit_anchor)"
        return f"{self.chain.describe()}\ncontains the newest anchor ({self.newest.describe()})"


def anchor_problem(anchors: list[Anchor], key: bytes, path: Path) -> str:
    """What is wrong with the anchors themselves: a signature, or their order."""
    for number, anchor in enumerate(anchors, start=1):
        if not anchor.signature_valid(key):
            return (
                f"anchor {number} of {len(anchors)} in {path} ({anchor.describe()}) has a wrong "
                "signature: the anchor store was altered, or PREFLIGHT_AUDIT_ANCHOR_KEY is not "
                "the key that signed it"
            )
        if number > 1 and anchor.seq < anchors[number - 2].seq:
            return f"anchor {number} of {len(anchors)} in {path} goes back to #{anchor.seq}"
    return ""


def _missing(newest: Anchor, count: int, head_seq: int) -> str:
    if head_seq == 0:
        return (
            f"the audit table is empty but {count} anchor(s) exist (newest {newest.describe()}): "
            "its events were deleted"
        )
    return (
        f"the anchored event {newest.describe()} is missing (the chain ends at #{head_seq}): "
        "events were deleted from the end"
    )


def _rewritten(newest: Anchor) -> str:
    return (
        f"event #{newest.seq} is not the one anchored {newest.anchored_at:%Y-%m-%d %H:%M:%S} UTC: "
        "the chain was rewritten from that event or an earlier one"
    )


def verify() -> AnchoredReport:
    """The whole chain, then the newest anchor (every anchor's signature is checked). An
    unreadable store or a missing key is reported as the problem, never raised."""
    anchors_store = store()
    chain = verify_chain()
    try:
        anchors = anchors_store.read()
        key = anchor_key() if anchors else b""
    except AnchorError as exc:
        return AnchoredReport(chain=chain, problem=f"the anchors cannot be checked: {exc}")
    if not chain.ok or not anchors:
        return AnchoredReport(chain=chain, anchors=len(anchors))
    newest = anchors[-1]
    problem = anchor_problem(anchors, key, anchors_store.path)
    if not problem and chain.head_seq < newest.seq:
        problem = _missing(newest, len(anchors), chain.head_seq)
    elif not problem:
        kept = AuditEvent.objects.filter(seq=newest.seq).values_list("hash", flat=True).first()
        problem = _rewritten(newest) if kept != newest.hash else ""
    return AnchoredReport(chain=chain, anchors=len(anchors), newest=newest, problem=problem)


def _since(newest: Anchor, count: int) -> tuple[ChainReport | None, str]:
    """The chain from the newest anchor to the head, checked link by link: cheap, only the
    events recorded since are read. The anchored event itself must still be what was anchored."""
    event = AuditEvent.objects.filter(seq=newest.seq).first()
    if event is None:
        head_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        return None, _missing(newest, count, head_seq or 0)
    if event.hash != newest.hash or event_hash(event) != event.hash:
        return None, _rewritten(newest)
    chain = verify_events(
        iter_chain(after_seq=newest.seq), after_seq=newest.seq, after_hash=newest.hash
    )
    return chain, "" if chain.ok else chain.describe()


def anchor_head(*, now: datetime | None = None) -> tuple[Anchor | None, bool]:
    """Anchor the chain's head: (the newest anchor, whether this call wrote it).

    The head is anchored only when the chain still contains the previous anchor, so a shortened
    or rewritten chain is never anchored as it is. Nothing is written while the head has not
    moved since the newest anchor, or while the log is empty."""
    key = anchor_key()
    anchors_store = store()
    with anchors_store.locked():
        anchors = anchors_store.read()
        if anchors:
            newest = anchors[-1]
            problem = anchor_problem(anchors, key, anchors_store.path)
            chain, problem = (None, problem) if problem else _since(newest, len(anchors))
            if problem or chain is None:
                raise AnchorError(f"not anchored: {problem}")
            if (chain.head_seq, chain.head_hash) == (newest.seq, newest.hash):
                return newest, False
        else:
            chain = verify_chain()
            if not chain.ok:
                raise AnchorError(f"not anchored: {chain.describe()}")
            if chain.checked == 0:
                return None, False
        anchor = Anchor(chain.head_seq, chain.head_hash, now or timezone.now()).signed(key)
        anchors_store.append(anchor)
    _copy_to_s3(anchor)
    anchored.send(sender=Anchor, anchor=anchor)
    return anchor, True


def _copy_to_s3(anchor: Anchor) -> None:
    bucket = settings.PREFLIGHT_AUDIT_ANCHOR_S3_BUCKET
    if not bucket:
        return
    prefix = settings.PREFLIGHT_AUDIT_ANCHOR_S3_PREFIX.strip("/")
    name = f"{anchor.anchored_at:%Y/%m/%d/%H%M%S%f}-{anchor.seq}.json"
    key = f"{prefix}/{name}" if prefix else name
    body = json.dumps(anchor.as_dict(), sort_keys=True).encode()
    try:
        s3.put_bytes(bucket, key, body, content_type="application/json")
    except s3.S3Error as exc:
        raise AnchorError(f"anchored {anchor.describe()} in the store, but {exc}") from exc
