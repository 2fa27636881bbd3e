from celery import shared_task

from .services.deployments import deployments_fail_timed_out
from .services.locks import locks_expire


@shared_task(name="releases.tasks.fail_timed_out_deployments")
def fail_timed_out_deployments() -> int:
    return len(deployments_fail_timed_out())


@shared_task(name="releases.tasks.expire_locks")
def expire_locks() -> int:
    return locks_expire()
