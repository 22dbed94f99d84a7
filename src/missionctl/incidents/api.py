"""`/api/v1/incidents`: declare, read and work incidents. Each route owns one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from missionctl.deps import Ctx, Responder, Viewer
from missionctl.escalation import service as escalation
from missionctl.incidents import service
from missionctl.incidents.lifecycle import OPEN_STATUSES, IncidentRole, Status
from missionctl.incidents.models import Incident
from missionctl.incidents.schemas import (
    ActionItemChange,
    ActionItemCreate,
    ActionItemRead,
    IncidentCreate,
    IncidentPatch,
    IncidentRead,
    IncidentSummary,
    MessageCreate,
    MessageRead,
    ResolveRequest,
    RoleAssign,
    StepChange,
    TransitionRequest,
    UpdateCreate,
    UpdateRead,
)
from missionctl.runbooks.schemas import Severity

router = APIRouter(prefix="/incidents", tags=["incidents"])


def _read(session: Session, incident: Incident, now: datetime) -> IncidentRead:
    session.flush()  # new timeline rows get their ids before they are serialised
    return IncidentRead.build(incident, now=now, paging=escalation.paging_view(session, incident_id=incident.id))


@router.post("", status_code=status.HTTP_201_CREATED)
def declare(body: IncidentCreate, ctx: Ctx, who: Responder, request: Request, response: Response) -> IncidentRead:
    """Declare an incident from a runbook; the caller is commander unless another is named."""
    runbook = ctx.runbooks.get(body.runbook)
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.declare(
            session,
            runbook=runbook,
            service=body.service,
            title=body.title,
            severity=body.severity,
            commander=body.commander or who.name,
            actor=who.name,
            now=now,
        )
        read = _read(session, incident, now)
    request.app.state.metrics.incidents_declared.labels(read.runbook_id, read.severity).inc()
    response.headers["Location"] = f"/api/v1/incidents/{read.id}"
    return read


@router.get("")
def list_incidents(
    ctx: Ctx,
    _: Viewer,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    open_: Annotated[bool | None, Query(alias="open", description="Only open incidents")] = None,
    severity: Severity | None = None,
    service_: Annotated[str | None, Query(alias="service")] = None,
    runbook: str | None = None,
    before_id: Annotated[int | None, Query(ge=1, description="Page: ids below this one")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[IncidentSummary]:
    """Newest first. Filter by status (repeatable), `open=true`, severity, service, runbook."""
    statuses = list(status_ or [])
    if open_:
        statuses = [s for s in statuses if s in OPEN_STATUSES] if statuses else sorted(OPEN_STATUSES)
    now = ctx.clock.now()
    with ctx.read() as session:
        rows = service.list_incidents(
            session,
            statuses=statuses or None,
            severity=severity,
            service=service_,
            runbook_id=runbook,
            before_id=before_id,
            limit=limit,
        )
        return [IncidentSummary.build(row, now=now) for row in rows]


@router.get("/{incident_id}")
def get_incident(incident_id: int, ctx: Ctx, _: Viewer) -> IncidentRead:
    now = ctx.clock.now()
    with ctx.read() as session:
        return _read(session, service.get(session, incident_id=incident_id), now)


@router.patch("/{incident_id}")
def change_incident(incident_id: int, body: IncidentPatch, ctx: Ctx, who: Responder) -> IncidentRead:
    """Re-declare severity or retitle."""
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.change(
            session,
            incident_id=incident_id,
            severity=body.severity,
            title=body.title,
            actor=who.name,
            now=now,
        )
        return _read(session, incident, now)


@router.post("/{incident_id}/acknowledge")
def acknowledge(incident_id: int, ctx: Ctx, who: Responder) -> IncidentRead:
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.acknowledge(session, incident_id=incident_id, actor=who.name, now=now)
        return _read(session, incident, now)


@router.post("/{incident_id}/transitions")
def transition(incident_id: int, body: TransitionRequest, ctx: Ctx, who: Responder) -> IncidentRead:
    """Move the lifecycle on; an invalid move is a 409 with code `invalid_transition`."""
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.transition(
            session, incident_id=incident_id, to=body.to, note=body.note, actor=who.name, now=now
        )
        return _read(session, incident, now)


@router.post("/{incident_id}/resolve")
def resolve(incident_id: int, body: ResolveRequest, ctx: Ctx, who: Responder) -> IncidentRead:
    """Resolve with a recovery confirmation; SEV1/SEV2 need at least one action item first."""
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.resolve(
            session,
            incident_id=incident_id,
            confirmed_by=body.confirmed_by or who.name,
            evidence=body.evidence,
            actor=who.name,
            now=now,
        )
        return _read(session, incident, now)


@router.post("/{incident_id}/steps/{position}")
def set_step(incident_id: int, position: int, body: StepChange, ctx: Ctx, who: Responder) -> IncidentRead:
    """Mark first-response step `position` (1-based) done, skipped, or pending again."""
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.set_step(
            session,
            incident_id=incident_id,
            position=position,
            status=body.status,
            note=body.note,
            actor=who.name,
            now=now,
        )
        return _read(session, incident, now)


@router.post("/{incident_id}/updates", status_code=status.HTTP_201_CREATED)
def post_update(incident_id: int, body: UpdateCreate, ctx: Ctx, who: Responder) -> UpdateRead:
    now = ctx.clock.now()
    with ctx.write() as session:
        update = service.post_update(session, incident_id=incident_id, message=body.message, actor=who.name, now=now)
        return UpdateRead.model_validate(update)


@router.put("/{incident_id}/roles/{role}")
def assign_role(incident_id: int, role: IncidentRole, body: RoleAssign, ctx: Ctx, who: Responder) -> IncidentRead:
    """Give a role (commander, scribe, communications_lead); a hand-over is recorded."""
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.assign_role(
            session, incident_id=incident_id, role=role, assignee=body.assignee, actor=who.name, now=now
        )
        return _read(session, incident, now)


@router.post("/{incident_id}/action-items", status_code=status.HTTP_201_CREATED)
def add_action_item(incident_id: int, body: ActionItemCreate, ctx: Ctx, who: Responder) -> ActionItemRead:
    now = ctx.clock.now()
    with ctx.write() as session:
        item = service.add_action_item(
            session,
            incident_id=incident_id,
            title=body.title,
            assignee=body.assignee,
            due_at=body.due_at,
            actor=who.name,
            now=now,
        )
        return ActionItemRead.model_validate(item)


@router.patch("/{incident_id}/action-items/{item_id}")
def change_action_item(
    incident_id: int, item_id: int, body: ActionItemChange, ctx: Ctx, who: Responder
) -> ActionItemRead:
    now = ctx.clock.now()
    with ctx.write() as session:
        item = service.set_action_item_status(
            session, incident_id=incident_id, item_id=item_id, status=body.status, actor=who.name, now=now
        )
        return ActionItemRead.model_validate(item)


@router.get("/{incident_id}/messages")
def list_messages(incident_id: int, ctx: Ctx, _: Viewer) -> list[MessageRead]:
    with ctx.read() as session:
        incident = service.get(session, incident_id=incident_id)
        return [MessageRead.model_validate(m) for m in incident.messages]


@router.post("/{incident_id}/messages", status_code=status.HTTP_201_CREATED)
def post_message(incident_id: int, body: MessageCreate, ctx: Ctx, who: Responder) -> MessageRead:
    """Post in the incident's response channel."""
    now = ctx.clock.now()
    with ctx.write() as session:
        message = service.post_message(session, incident_id=incident_id, body=body.body, actor=who.name, now=now)
        return MessageRead.model_validate(message)
