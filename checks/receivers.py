from typing import Any

from django.dispatch import receiver

from releases.signals import deployment_succeeded

from .services.verification import verification_start


@receiver(deployment_succeeded, dispatch_uid="checks-verify-deployment")
def _verify(sender: Any, deployment_id: int, **kwargs: Any) -> None:
    verification_start(deployment_id)
