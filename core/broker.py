"""kombu's Redis transport, made to survive Redis going away under a busy worker.

When the connection to Redis drops while a worker holds messages it has not acknowledged yet
(``acks_late``), kombu closes the channel and tries to put those messages back — on a connection
it has just torn down, which fails with ``AttributeError`` instead of a connection error, and the
worker stops for good ("Unrecoverable error") instead of reconnecting. Putting them back cannot
work while Redis is away anyway: Redis hands unacknowledged messages out again after the
visibility timeout when it kept them, and the outbox sends again what it lost
(core/outbox). So the failed restore is logged and the worker goes on to reconnect.

``redis://`` URLs resolve to this transport (``register``, called by preflight/celery.py)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    # A task that was running when the connection dropped ends after the worker reconnected,
    # and kombu acknowledges it on the closed channel: AttributeError again. Its message stays
    # unacknowledged in a Redis that kept it (handed out again after the visibility timeout:
    # tasks are safe to run twice), and is gone from one that restarted empty.
    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)
        except AttributeError:
            log.warning(
                "a message could not be acknowledged: its channel closed with the connection"
            )
            # Forget it here all the same, or it would hold one of the worker's prefetch slots.
            virtual.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)
        except AttributeError:
            log.warning("a message could not be rejected: its channel closed with the connection")
            virtual.QoS.ack(self, delivery_tag)

    def restore_unacked(self, client: Any = None) -> None:
        try:
            super().restore_unacked(client)
        except (AttributeError, redis.RedisError, OSError) as exc:
            delivered: dict[str, Any] = self._delivered or {}
            count = len(delivered)
            delivered.clear()
            log.warning(
                "broker connection lost: %d unacknowledged message(s) left to Redis's "
                "redelivery and the outbox (%s)",
                count,
                type(exc).__name__,
            )


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel


def register() -> None:
    TRANSPORT_ALIASES["redis"] = "core.broker:Transport"
