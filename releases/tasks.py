from typing import Any

from celery import shared_task

from .services.deployments import deployments_fail_timed_out
from .services.locks import locks_expire
from .webhooks import MAX_ATTEMPTS, DeliveryFailed, deliver


@shared_task(name="releases.tasks.fail_timed_out_deployments")
def fail_timed_out_deployments() -> int:
    return len(deployments_fail_timed_out())


@shared_task(name="releases.tasks.expire_locks")
def expire_locks() -> int:
    return locks_expire()


@shared_task(
    name="releases.tasks.deliver_webhook",
    bind=True,
    autoretry_for=(DeliveryFailed,),
    retry_backoff=10,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=MAX_ATTEMPTS,
)
def deliver_webhook(self: Any, delivery_id: int) -> None:
    """Send a webhook delivery; retried with exponential backoff until it succeeds or gives up."""
    deliver(delivery_id)
