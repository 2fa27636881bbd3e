"""Signals other apps listen to, so the release domain does not import them.

``deployment_succeeded`` is sent after the transaction that marked a deployment succeeded
commits (from the outbox: ``releases.tasks.announce_deployment_succeeded``, so it may come
twice); the readiness app answers it by starting the post-deploy verification run, once."""

from django.dispatch import Signal

deployment_succeeded = Signal()  # sender=Deployment, deployment_id=int
