"""`/api/v1/releases`, `/api/v1/freeze(s)` and `/api/v1/incidents/{id}/release`: the ledger, freezes, rollbacks.

Reading needs a viewer token (a pipeline asking `GET /freeze` before it deploys uses one); changing needs a
responder token. Rollbacks and synthetic checks are action executions (`/api/v1/actions/executions/{id}`):
requested here for a service (with or without an incident), run by the action workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.actions import approvals, workers
from missionctl.actions import service as actions
from missionctl.actions.catalog import catalog_for
from missionctl.actions.models import ActionExecution
from missionctl.actions.rules import Mode, Status
from missionctl.actions.schemas import ExecutionRead
from missionctl.deployments.models import Deployment
from missionctl.deps import Ctx, Responder, Viewer
from missionctl.errors import Conflict, InvalidInput
from missionctl.incidents import service as incidents
from missionctl.releases import config, service
from missionctl.releases.hooks import ROLLBACK, SYNTHETIC
from missionctl.releases.models import ReleaseVerdict
from missionctl.releases.rules import Verdict
from missionctl.releases.schemas import (
    FreezeCreate,
    FreezeRead,
    FreezeStatus,
    IncidentReleaseView,
    ReleaseRead,
    ReleasesView,
    RunCreate,
)

router = APIRouter(tags=["releases"])

ServiceQuery = Annotated[str, Query(alias="service", min_length=1, max_length=100)]


def _release(deployment: Deployment | None, verdict: ReleaseVerdict | None = None) -> ReleaseRead | None:
    if deployment is None:
        return None
    return ReleaseRead(
        id=deployment.id,
        service_id=deployment.service_id,
        version=deployment.version,
        artifact_digest=deployment.artifact_digest,
        environment=deployment.environment,
        deployed_by=deployment.deployed_by,
        deployed_at=deployment.deployed_at,
        url=deployment.url,
        verdict=Verdict(verdict.verdict) if verdict else None,
        verdict_reason=verdict.reason if verdict else None,
        decided_at=verdict.decided_at if verdict else None,
        settles_at=verdict.settles_at if verdict else None,
    )


def _environment(ctx: Ctx, service_id: str) -> str:
    return config.load(ctx.settings.releases_file).for_service(service_id).environment


def _status(session: Session, service_id: str, now: datetime) -> FreezeStatus:
    frozen = service.in_force(session, service_id=service_id, now=now)
    return FreezeStatus(service=service_id, frozen=bool(frozen), freezes=[FreezeRead.model_validate(f) for f in frozen])


def _pair(
    session: Session, service_id: str, environment: str, now: datetime
) -> tuple[ReleaseRead | None, ReleaseRead | None]:
    # The healthy one first: its verdict row then enters the session as the query saw it, even if the release is
    # also the current one and settled between the two statements (PostgreSQL reads each at its own snapshot).
    healthy = service.last_known_healthy(session, service_id=service_id, environment=environment)
    healthy_read = _release(healthy, service.verdict_of(session, healthy.id) if healthy else None)
    current = service.current(session, service_id=service_id, environment=environment, at=now)
    return _release(current, service.verdict_of(session, current.id) if current else None), healthy_read


@router.get("/releases")
def releases(
    ctx: Ctx, _: Viewer, service_id: ServiceQuery, limit: Annotated[int, Query(ge=1, le=service.MAX_LEDGER)] = 50
) -> ReleasesView:
    """The ledger of a service: every release with its verdict, newest first; current, last healthy, freezes."""
    environment, now = _environment(ctx, service_id), ctx.clock.now()
    with ctx.read() as session:
        service.require_service(session, service_id)
        rows = service.ledger(session, service_id=service_id, environment=None, limit=limit)
        current, healthy = _pair(session, service_id, environment, now)
        freeze = _status(session, service_id, now)
        return ReleasesView(
            service=service_id,
            environment=environment,
            current=current,
            last_known_healthy=healthy,
            frozen=freeze.frozen,
            freezes=freeze.freezes,
            releases=[r for d, v in rows if (r := _release(d, v)) is not None],
        )


@router.get("/incidents/{incident_id}/release")
def incident_release(incident_id: int, ctx: Ctx, _: Viewer) -> IncidentReleaseView:
    """The incident's service: the release running now against the last known healthy one."""
    now = ctx.clock.now()
    with ctx.read() as session:
        incident = incidents.get(session, incident_id=incident_id)
        environment = _environment(ctx, incident.service)
        current, healthy = _pair(session, incident.service, environment, now)
        freeze = _status(session, incident.service, now)
        runs = session.scalars(
            select(ActionExecution)
            .where(ActionExecution.incident_id == incident_id, ActionExecution.action.in_([ROLLBACK, SYNTHETIC]))
            .order_by(ActionExecution.id)
        )
        return IncidentReleaseView(
            incident_id=incident_id,
            service=incident.service,
            environment=environment,
            current=current,
            last_known_healthy=healthy,
            frozen=freeze.frozen,
            freezes=freeze.freezes,
            runs=[ExecutionRead.model_validate(run) for run in runs],
        )


@router.get("/freeze")
def freeze_status(ctx: Ctx, _: Viewer, service_id: ServiceQuery) -> FreezeStatus:
    """May the service be deployed now? `frozen: true` lists why (a pipeline asks this before it deploys)."""
    with ctx.read() as session:
        service.require_service(session, service_id)
        return _status(session, service_id, ctx.clock.now())


@router.get("/freezes")
def list_freezes(
    ctx: Ctx,
    _: Viewer,
    service_id: Annotated[str | None, Query(alias="service", min_length=1)] = None,
    include_lifted: Annotated[bool, Query(alias="all")] = False,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LEDGER)] = 50,
) -> list[FreezeRead]:
    """Freezes, newest first (not lifted only, unless `all=true`)."""
    with ctx.read() as session:
        rows = service.listing_freezes(session, service_id=service_id, include_lifted=include_lifted, limit=limit)
        return [FreezeRead.model_validate(row) for row in rows]


@router.post("/freezes", status_code=status.HTTP_201_CREATED)
def create_freeze(body: FreezeCreate, ctx: Ctx, caller: Responder) -> FreezeRead:
    """Freeze deployments of a service by hand, with a reason and a window."""
    now = ctx.clock.now()
    starts_at = body.starts_at or now
    ends_at = body.ends_at or (starts_at + timedelta(minutes=body.minutes) if body.minutes else None)
    if ends_at is not None and ends_at <= now:
        raise InvalidInput("ends_at: the freeze would already be over", details={"field": "ends_at"})
    with ctx.write() as session:
        service.require_service(session, body.service)
        if body.incident_id is not None:
            incidents.get(session, incident_id=body.incident_id)
        row = service.freeze(
            session,
            service_id=body.service,
            reason=body.reason,
            starts_at=starts_at,
            ends_at=ends_at,
            incident_id=body.incident_id,
            actor=caller.name,
            now=now,
        )
        return FreezeRead.model_validate(row)


@router.post("/freezes/{freeze_id}/lift")
def lift_freeze(freeze_id: int, ctx: Ctx, caller: Responder) -> FreezeRead:
    """Lift a freeze now (lifting it again changes nothing)."""
    with ctx.write() as session:
        return FreezeRead.model_validate(
            service.lift(session, freeze_id=freeze_id, actor=caller.name, now=ctx.clock.now())
        )


def _request(ctx: Ctx, body: RunCreate, action: str, params: dict[str, Any], caller: str) -> ExecutionRead:
    """Request a release action through the action framework; a dry run runs at once and answers its preview."""
    catalog = catalog_for(ctx.settings)
    with ctx.write() as session:
        service.require_service(session, body.service)
        row = actions.request(
            session,
            action=action,
            incident_id=body.incident_id,
            service=body.service,
            params=params,
            requested_by=caller,
            triggered_by=f"person:{caller}",
            now=ctx.clock.now(),
            actions=catalog,
            mode=Mode.MANUAL,
            dry_run=body.dry_run,
        )
        answer = ExecutionRead.model_validate(row)
    if answer.status is Status.BLOCKED:
        raise Conflict(answer.error or "refused", code=str(answer.output.get("reason", "blocked")))
    if body.dry_run:
        workers.execute(ctx, answer.id, actions=catalog)
        with ctx.read() as session:
            return ExecutionRead.model_validate(approvals.get_execution(session, execution_id=answer.id))
    return answer


@router.post("/releases/rollbacks", status_code=status.HTTP_202_ACCEPTED)
def request_rollback(body: RunCreate, ctx: Ctx, caller: Responder) -> ExecutionRead:
    """Roll the service back to its last known healthy release (or `to_deployment_id`); `dry_run` only shows how."""
    params = {"to_deployment_id": body.to_deployment_id} if body.to_deployment_id is not None else {}
    return _request(ctx, body, ROLLBACK, params, caller.name)


@router.post("/releases/synthetic-checks", status_code=status.HTTP_202_ACCEPTED)
def request_synthetic_checks(body: RunCreate, ctx: Ctx, caller: Responder) -> ExecutionRead:
    """Run the service's synthetic checks now; the summary lands on the incident's timeline."""
    if body.to_deployment_id is not None:
        raise InvalidInput("to_deployment_id: only a rollback takes a release", details={"field": "to_deployment_id"})
    return _request(ctx, body, SYNTHETIC, {}, caller.name)
