"""`/api/v1/deployments`: CI reports releases (responder token); anyone with a token lists them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from missionctl.deployments import service
from missionctl.deployments.schemas import DeploymentCreate, DeploymentRead
from missionctl.deps import Ctx, Responder, Viewer
from missionctl.releases import hooks as releases

router = APIRouter(prefix="/deployments", tags=["deployments"])


@router.post("", status_code=status.HTTP_201_CREATED)
def record_deployment(body: DeploymentCreate, ctx: Ctx, caller: Responder) -> DeploymentRead:
    """Record a release; after-release detectors compare the error rate after it with the baseline before it."""
    with ctx.write() as session:
        deployment = service.record(
            session,
            service_id=body.service,
            version=body.version,
            artifact_digest=body.artifact_digest,
            environment=body.environment,
            deployed_by=body.deployed_by,
            deployed_at=body.deployed_at,
            url=str(body.url) if body.url is not None else None,
            now=ctx.clock.now(),
        )
        # 409 `deploy_frozen` while the service is frozen (unless overridden); starts the release's verdict.
        releases.on_deployment(
            session,
            deployment=deployment,
            settings=ctx.settings,
            override_reason=body.freeze_override_reason,
            actor=caller.name,
            now=ctx.clock.now(),
        )
        return DeploymentRead.model_validate(deployment)


@router.get("")
def list_deployments(
    ctx: Ctx,
    _: Viewer,
    service_id: Annotated[str | None, Query(alias="service", min_length=1)] = None,
    environment: Annotated[str | None, Query(min_length=1)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
) -> list[DeploymentRead]:
    """Releases, newest first."""
    with ctx.read() as session:
        found = service.listing(session, service_id=service_id, environment=environment, limit=limit)
        return [DeploymentRead.model_validate(row) for row in found]
