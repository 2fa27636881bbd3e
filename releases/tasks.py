from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit.actors import Actor

from .models import Deployment, IdempotencyKey
from .services.locks import locks_expire
from .services.webhooks import webhook_deliveries_purge
from .signals import deployment_succeeded
from .webhooks import MAX_ATTEMPTS, DeliveryFailed, deliver


@shared_task(name="releases.tasks.expire_locks")
def expire_locks() -> int:
    return locks_expire()


@shared_task(
    name="releases.tasks.deliver_webhook",
    bind=True,
    autoretry_for=(DeliveryFailed,),
    retry_backoff=10,
    # Below the broker's visibility timeout (checked in the settings), or Redis would hand a
    # delivery waiting for its retry to a second worker.
    retry_backoff_max=settings.PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=MAX_ATTEMPTS,
)
def deliver_webhook(self: Any, delivery_id: int) -> None:
    """Send a webhook delivery; retried with exponential backoff until it succeeds or gives up."""
    deliver(delivery_id)


@shared_task(name="releases.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Forget answers to Idempotency-Key requests once they are older than the keeping period."""
    cutoff = timezone.now() - timedelta(hours=settings.PREFLIGHT_IDEMPOTENCY_KEEP_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(name="releases.tasks.purge_webhook_deliveries")
def purge_webhook_deliveries() -> int:
    """Delete webhook delivery records past PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS."""
    return webhook_deliveries_purge(actor=Actor.of_system("retention"))


@shared_task(name="releases.tasks.announce_deployment_succeeded")
def announce_deployment_succeeded(deployment_id: int) -> None:
    """Tell the readiness app a deployment succeeded (it starts the post-deploy verification,
    once per deployment however often this runs)."""
    deployment_succeeded.send(sender=Deployment, deployment_id=deployment_id)
