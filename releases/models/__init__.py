from .deployments import Deployment, DeploymentStatus, Strategy
from .environments import Environment, FreezeWindow, Lock
from .projects import ApiToken, Membership, Project, Role
from .releases import Approval, Decision, Release

__all__ = [
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
]
