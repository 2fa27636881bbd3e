from .deployments import Deployment, DeploymentStatus, Strategy
from .environments import Environment, FreezeWindow, Lock
from .idempotency import IdempotencyKey
from .projects import ApiToken, Membership, Project, Role
from .releases import Approval, Decision, Release
from .webhooks import EVENTS, Webhook, WebhookDelivery

__all__ = [
    "EVENTS",
    "ApiToken",
    "Approval",
    "Decision",
    "Deployment",
    "DeploymentStatus",
    "Environment",
    "FreezeWindow",
    "IdempotencyKey",
    "Lock",
    "Membership",
    "Project",
    "Release",
    "Role",
    "Strategy",
    "Webhook",
    "WebhookDelivery",
]
