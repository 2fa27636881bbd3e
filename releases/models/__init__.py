from .deployments import Deployment, DeploymentStatus, Strategy
from .environments import Environment, FreezeWindow, Lock
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
    "Lock",
    "Membership",
    "Project",
    "Release",
    "Role",
    "Strategy",
    "Webhook",
    "WebhookDelivery",
]
