"""Gate answers kept for a few seconds, so pipelines polling the gate cost a cache read.

The gate is asked far more often than anything it depends on changes: CI polls it while runs
finish and approvers decide. Every change that can move the gate is audited with its project
(runs, results, approvals, waivers, locks, freezes, deployments, memberships), so each audit
event with a project gives that project a new *state* (a random value in the cache) once its
transaction commits; an answer is kept with the state it was computed in and used only while that
is still the project's state (saving a user, which changes whether their approvals count, does
the same for their projects). Of what changes with time alone, a waiver running out (which can
lower the score and turn approvals stale) and an approval passing its environment's
approval_ttl end a kept answer at that very moment: the gate says when its answer next changes by
itself (``GateDecision.changes_at``) and the answer is kept no longer. A lock expiring or a
freeze window starting or ending shows within PREFLIGHT_GATE_CACHE_SECONDS.

The state lives in Redis, shared by the web processes and the worker (which finishes runs);
without Redis the gate is computed for every request. Answers are kept in Redis and, the last few
hundred, in each web process too: a service token's read (api/token_cache.py) brings its
project's state along, so a pipeline polling the gate is answered from the process's memory
after that one round trip.

Written through: right after the change's commit, in the process that made it, the new state is
set and then the questions computed lately (``gate-asked:<project>``) are answered again in it
(``_refresh``), each marked as being filled meanwhile so that a poll finding the mark waits for
it rather than computing the same answer. No poll gets an answer from before a change that has
returned: an answer is tagged with a state read or set before it was computed, and a state is
set only after its change committed (docs/api.md, "The gate endpoint").

Starting a deployment never reads this: ``deployment_start`` evaluates the gate itself, under the
environment's row lock."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from rest_framework.renderers import JSONRenderer

from audit.models import AuditEvent
from releases.models import Membership

from .gate_answers import gate_bodies
from .shared_cache import shared_redis, warn_unavailable

log = logging.getLogger(__name__)


STATE_KEY_PREFIX = "gate-state:"
KEPT_HERE = 512  # answers kept in each process's memory


def _state_key(project_id: int) -> str:
    return f"{STATE_KEY_PREFIX}{project_id}"


def _answer_key(project_id: int, version: str, environment: str) -> str:
    return f"gate-answer:{project_id}:{version}:{environment}"


def _asked_key(project_id: int) -> str:
    """The project's questions that were computed lately, each with when: the ones a change
    answers again at once (a hash of "version\nenvironment" → the time)."""
    return f"gate-asked:{project_id}"


def _filling_key(project_id: int, version: str, environment: str) -> str:
    """The state this answer is being computed in by the change's process: a poll that finds
    its state here and no answer waits for it rather than computing the same answer."""
    return f"gate-filling:{project_id}:{version}:{environment}"


# A question asked (computed) this recently is answered again as soon as a change commits; at
# most this many of a project's, the most recent first.
ASKED_SECONDS = 60
REFRESHED_AT_MOST = 20
# How long a poll waits for the answers a change's process is computing, checking this often,
# before it computes its own.
FILL_WAIT_SECONDS = 0.5
FILL_CHECK_SECONDS = 0.002


class _KeptHere:
    """The last answers this process used, each with the state it is current in and the time it
    stops being used. Threads of one web process share it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._answers: OrderedDict[tuple[int, str, str], tuple[str, float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str, str], state: str) -> str | None:
        with self._lock:
            kept = self._answers.get(key)
            if kept is None or kept[0] != state or kept[1] <= time.time():
                return None
            self._answers.move_to_end(key)
            return kept[2]

    def put(self, key: tuple[int, str, str], state: str, until: float, body: str) -> None:
        with self._lock:
            self._answers[key] = (state, until, body)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)


_kept_here = _KeptHere(KEPT_HERE)


def answer(
    project_id: int,
    version: str,
    environment: str,
    compute: Callable[[], tuple[dict[str, Any], datetime | None]],
    state_now: str | None = None,
) -> str:
    """The gate's answer for (version, environment) as the JSON sent, from the cache if it is
    still current. ``compute`` gives the answer and when time alone changes it (or None).
    ``state_now``, when the caller has just read the project's state, saves reading it again."""
    seconds = settings.PREFLIGHT_GATE_CACHE_SECONDS
    if not seconds or shared_redis() is None:
        # Without a cache shared with the worker, this process would not learn that a run
        # finished: answer fresh each time.
        return _encode(compute()[0])
    here = (project_id, version, environment)
    if state_now:
        body = _kept_here.get(here, state_now)
        if body is not None:
            return body
    keys = [_state_key(project_id), _answer_key(*here), _filling_key(*here)]
    try:
        state, kept, filling = _read(keys)
        if state is None:
            # No state yet (or evicted): start one. Answers are tagged with random states, so an
            # answer kept under a lost state can never match a new one.
            _store(keys[0], uuid.uuid4().hex, None, only_if_new=True)
            state, kept, filling = _read(keys)
            if state is None:
                return _encode(compute()[0])
        waited_until = time.monotonic() + FILL_WAIT_SECONDS
        while not _current(kept, state) and filling == state and time.monotonic() < waited_until:
            # The change that made this state is computing its answers: wait for them (a state
            # only ever gets answers computed after it was set, so whatever arrives is fresh).
            time.sleep(FILL_CHECK_SECONDS)
            state, kept, filling = _read(keys)
            if state is None:
                return _encode(compute()[0])
        if kept is not None and _current(kept, state):
            # Another host wrote it: its clock may differ, this one's bounds it too.
            until = min(kept["until"], time.time() + seconds)
            _kept_here.put(here, state, until, kept["body"])
            return str(kept["body"])
    except Exception as exc:  # the cache is an optimisation: without it, compute
        warn_unavailable(log, "gate cache unavailable: gate answers computed", exc)
        return _encode(compute()[0])
    # The state was read before computing: a change meanwhile retires it.
    return _keep(project_id, version, environment, state, *compute(), asked=True)


def _current(kept: dict[str, Any] | None, state: str) -> bool:
    return kept is not None and kept["state"] == state and kept["until"] > time.time()


def _keep(
    project_id: int,
    version: str,
    environment: str,
    state: str,
    computed: dict[str, Any],
    changes_at: datetime | None,
    *,
    asked: bool,
) -> str:
    """Keep an answer computed after ``state`` was read (or set), tagged with it; ``asked``
    when a poll computed it, which makes the question one a change answers again at once."""
    body = _encode(computed)
    now = time.time()
    until = now + settings.PREFLIGHT_GATE_CACHE_SECONDS
    if changes_at is not None:
        until = min(until, changes_at.timestamp())
    if until <= now:
        return body
    try:
        pipe = shared_redis().pipeline(transaction=False)
        pipe.set(
            _answer_key(project_id, version, environment),
            json.dumps({"state": state, "until": until, "body": body}),
            ex=max(1, math.ceil(until - now)),
        )
        if asked:
            pipe.hset(_asked_key(project_id), f"{version}\n{environment}", now)
            pipe.expire(_asked_key(project_id), ASKED_SECONDS * 2)
        pipe.execute()
    except Exception as exc:
        warn_unavailable(log, "gate cache unavailable: gate answers computed", exc)
    else:
        _kept_here.put((project_id, version, environment), state, until, body)
    return body


def _encode(body: dict[str, Any]) -> str:
    """The answer as the API's renderer writes it."""
    return JSONRenderer().render(body).decode()


def _read(keys: list[str]) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """The state, the answer and the state being filled, in one round trip."""
    state, kept, filling = shared_redis().mget(keys)
    return (
        state.decode() if state is not None else None,
        json.loads(kept) if kept is not None else None,
        filling.decode() if filling is not None else None,
    )


def _store(key: str, value: str, seconds: int | None, *, only_if_new: bool = False) -> None:
    shared_redis().set(key, value, ex=seconds, nx=only_if_new)


def _new_state(project_id: int) -> None:
    """After a change to the project committed: a new state, which retires every answer kept
    before; then the questions polled lately are answered again in this state (written
    through), so the polls that follow find a fresh answer instead of each computing one."""
    if shared_redis() is None:
        return
    state = uuid.uuid4().hex
    refreshing = bool(settings.PREFLIGHT_GATE_CACHE_SECONDS)
    try:
        asked = shared_redis().eval(
            _NEW_STATE,
            2,
            _state_key(project_id),
            _asked_key(project_id),
            state,
            time.time() - ASKED_SECONDS,
            REFRESHED_AT_MOST if refreshing else 0,
            _filling_key(project_id, "", "")[:-1],  # the marks' prefix, up to the version
            math.ceil(FILL_WAIT_SECONDS) + 1,
        )
    except Exception as exc:
        # The change is committed; answers kept before it expire within the cache timeout.
        warn_unavailable(log, "gate cache unavailable: cached answers expire by themselves", exc)
        return
    pairs = [field.decode().split("\n", 1) for field in asked]
    _refresh(project_id, state, [(version, environment) for version, environment in pairs])


# The new state, and the marks of the questions about to be answered in it, in one step: a poll
# never finds the new state without the mark of an answer that is coming. Returns the questions
# ("version\nenvironment") asked since ARGV[2], the most recent first, at most ARGV[3].
_NEW_STATE = """
redis.call('set', KEYS[1], ARGV[1])
local asked = redis.call('hgetall', KEYS[2])
local recent = {}
for i = 1, #asked, 2 do
  local at = tonumber(asked[i + 1])
  if at and at > tonumber(ARGV[2]) then table.insert(recent, {asked[i], at}) end
end
table.sort(recent, function(a, b) return a[2] > b[2] end)
local chosen = {}
for i = 1, math.min(#recent, tonumber(ARGV[3])) do
  local field = recent[i][1]
  local cut = string.find(field, "\\n", 1, true)
  if cut then
    local mark = ARGV[4] .. string.sub(field, 1, cut - 1) .. ':' .. string.sub(field, cut + 1)
    redis.call('set', mark, ARGV[1], 'EX', tonumber(ARGV[5]))
    table.insert(chosen, field)
  end
end
return chosen
"""


def _refresh(project_id: int, state: str, asked: list[tuple[str, str]]) -> None:
    """Answer ``asked`` again in ``state``, which was set after the change committed: what is
    computed here sees it. Polls meanwhile wait for these answers (the marks _NEW_STATE set),
    and a failure leaves them to compute their own; a later change's state retires these too."""
    if not asked:
        return
    marks = [_filling_key(project_id, version, environment) for version, environment in asked]
    try:
        try:
            answers = gate_bodies(project_id, asked)
            for (version, environment), (computed, changes_at) in answers.items():
                _keep(project_id, version, environment, state, computed, changes_at, asked=False)
        finally:
            shared_redis().eval(_UNMARK, len(marks), *marks, state)
    except Exception as exc:  # never the change's failure: it is committed
        warn_unavailable(log, "gate answers not refreshed after a change: polls compute them", exc)


# Only this state's marks: a later change may be filling its own state already.
_UNMARK = """
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then redis.call('del', key) end
end
return 0
"""


@receiver(post_save, sender=AuditEvent, dispatch_uid="gate-cache-new-state")
def _on_audit_event(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    if created and instance.project_id is not None:
        transaction.on_commit(partial(_new_state, instance.project_id))


@receiver(post_save, sender=get_user_model(), dispatch_uid="gate-cache-user")
def _on_user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A person's approvals count only while they are active: saving a user (deactivation,
    in the admin) is not audited per project, so it gives their projects a new state here."""
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a sign-in
    for project_id in Membership.objects.filter(user_id=instance.pk).values_list(
        "project_id", flat=True
    ):
        transaction.on_commit(partial(_new_state, project_id))
