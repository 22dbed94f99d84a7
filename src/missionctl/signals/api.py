"""`/api/v1/integrations`: keys for alert sources, created and revoked by admins."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from missionctl.deps import Admin, Ctx, Viewer
from missionctl.signals import integrations
from missionctl.signals.schemas import IntegrationCreate, IntegrationCreated, IntegrationRead

router = APIRouter(prefix="/integrations", tags=["integrations"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_integration(body: IntegrationCreate, ctx: Ctx, _: Admin) -> IntegrationCreated:
    """Create a key for one alert source and service; the key is in this response only."""
    with ctx.write() as session:
        issued = integrations.create(
            session, kind=body.kind, service_id=body.service, name=body.name, now=ctx.clock.now()
        )
        return IntegrationCreated(**IntegrationRead.model_validate(issued.record).model_dump(), key=issued.key)


@router.get("")
def list_integrations(ctx: Ctx, _: Viewer) -> list[IntegrationRead]:
    with ctx.read() as session:
        return [IntegrationRead.model_validate(r) for r in integrations.listing(session)]


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_integration(integration_id: int, ctx: Ctx, _: Admin, request: Request) -> Response:
    """Refuse events with this key from now on (other processes stop accepting it within seconds)."""
    with ctx.write() as session:
        integrations.revoke(session, integration_id=integration_id, now=ctx.clock.now())
    request.app.state.ingest.keys.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
