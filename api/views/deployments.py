"""Deployments: starting one (the gate and the environment's lock, in one transaction),
finishing it, rolling it back."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from checks.services.deployments import (
    deployment_finish,
    deployment_rollback,
    deployment_start,
)
from core.errors import NotFound
from releases.models import Deployment

from ..idempotency import idempotent
from ..lookups import environment_of, member_of, project_for, release_of
from ..schema import IDEMPOTENCY_KEY, WRITE_ERRORS, responses
from ..serializers import DeploymentInput, DeploymentSerializer, FinishInput, RollbackInput, valid


def _deployment(request: Request, id: int) -> tuple[Deployment, Actor]:
    deployment = (
        Deployment.objects.select_related("environment__project", "release").filter(pk=id).first()
    )
    if deployment is None:
        raise NotFound(f"Deployment {id} does not exist.")
    return deployment, member_of(request, deployment.environment.project)


class DeploymentsView(APIView):
    @extend_schema(
        operation_id="deployment_start",
        summary="Start a deployment",
        request=DeploymentInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {201: DeploymentSerializer},
            (*WRITE_ERRORS, 412),
            e409="environment_busy: another deployment is in progress, or the environment is "
            "locked or frozen; `holder` names who holds it.",
            e403="Your role may not deploy, or only admins may break glass (override_reason).",
        ),
        description="Checks the gate and takes the environment in one transaction. An admin "
        "may start with the gate closed by giving `override_reason` (break glass).",
    )
    @idempotent
    def post(self, request: Request, project: str) -> Response:
        found, actor = project_for(request, project)
        values = valid(DeploymentInput, request.data)
        deployment = deployment_start(
            actor=actor,
            release=release_of(found, values["version"], field="version"),
            environment=environment_of(found, values["environment"]),
            strategy=values["strategy"],
            override_reason=values["override_reason"],
        )
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class FinishView(APIView):
    @extend_schema(
        operation_id="deployment_finish",
        summary="Record how a deployment ended",
        request=FinishInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {200: DeploymentSerializer},
            WRITE_ERRORS,
            e409="The deployment already ended the other way (invalid_transition).",
        ),
        description="`succeeded` starts the post-deploy verification. Repeating the same "
        "outcome is harmless.",
    )
    @idempotent
    def post(self, request: Request, id: int) -> Response:
        deployment, actor = _deployment(request, id)
        values = valid(FinishInput, request.data)
        deployment = deployment_finish(
            actor=actor,
            deployment=deployment,
            status=values["status"],
            detail=values["detail"],
        )
        return Response(DeploymentSerializer(deployment).data)


class RollbackView(APIView):
    @extend_schema(
        operation_id="deployment_rollback",
        summary="Roll back to the last good earlier release",
        request=RollbackInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {201: DeploymentSerializer},
            WRITE_ERRORS,
            e409="Not the latest deployment, nothing to roll back to, or the environment is busy.",
        ),
        description="Creates a deployment of the last good earlier release with `rollback_of` "
        "set, and locks the environment until someone unlocks it.",
    )
    @idempotent
    def post(self, request: Request, id: int) -> Response:
        deployment, actor = _deployment(request, id)
        values = valid(RollbackInput, request.data)
        rollback = deployment_rollback(
            actor=actor,
            deployment=deployment,
            reason=values["reason"],
        )
        return Response(DeploymentSerializer(rollback).data, status=status.HTTP_201_CREATED)
