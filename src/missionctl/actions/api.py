"""`/api/v1/actions` and `/api/v1/incidents/{id}/actions`: the catalogue, requests, approvals, breakers.

Requests are recorded in one transaction. A dry run then runs at once (it changes nothing) and answers
with its preview; a real run is handed to the action workers and answered `201` as `queued` (or
`pending_approval`). A request a guard rail refuses is recorded (`blocked`, on the timeline) and answered 409.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from missionctl.actions import approvals, service, workers
from missionctl.actions.catalog import catalog_for
from missionctl.actions.models import ActionExecution
from missionctl.actions.rules import Mode, Status
from missionctl.actions.schemas import BreakerRead, CatalogEntry, ExecutionCreate, ExecutionRead
from missionctl.context import AppContext
from missionctl.deps import Admin, Ctx, Responder, Viewer
from missionctl.errors import Conflict

router = APIRouter(tags=["actions"])


@router.get("/actions")
def list_actions(ctx: Ctx, _: Viewer) -> list[CatalogEntry]:
    """Every action that can run: built-ins and the actions file's entries, with their parameter schemas."""
    return catalog_for(ctx.settings).entries()


@router.post("/incidents/{incident_id}/actions", status_code=status.HTTP_201_CREATED)
def request_action(incident_id: int, body: ExecutionCreate, ctx: Ctx, who: Responder) -> ExecutionRead:
    """Request an action on an incident (a step's button); `dry_run` shows exactly what would be done."""
    actions = catalog_for(ctx.settings)
    with ctx.write() as session:
        row = service.request(
            session,
            action=body.action,
            incident_id=incident_id,
            service=None,
            params=body.params,
            requested_by=who.name,
            triggered_by=f"person:{who.name}",
            now=ctx.clock.now(),
            actions=actions,
            mode=Mode.MANUAL,
            dry_run=body.dry_run,
            step_position=body.step_position,
        )
        execution_id = row.id
        answer = ExecutionRead.model_validate(row)
    if answer.status is Status.BLOCKED:
        _refused(answer)
    if body.dry_run:
        workers.execute(ctx, execution_id, actions=actions)
        return _read(ctx, execution_id)
    workers.wake(ctx)
    return answer


def _refused(answer: ExecutionRead) -> None:
    reason = str(answer.output.get("reason", "blocked"))
    raise Conflict(answer.error or "refused", code=reason, details={"execution_id": answer.id})


def _read(ctx: AppContext, execution_id: int) -> ExecutionRead:
    with ctx.read() as session:
        return ExecutionRead.model_validate(approvals.get_execution(session, execution_id=execution_id))


@router.get("/incidents/{incident_id}/actions")
def incident_actions(incident_id: int, ctx: Ctx, _: Viewer) -> list[ExecutionRead]:
    """An incident's action executions, oldest first."""
    with ctx.read() as session:
        return [ExecutionRead.model_validate(row) for row in service.for_incident(session, incident_id=incident_id)]


@router.get("/actions/executions/{execution_id}")
def get_execution(execution_id: int, ctx: Ctx, _: Viewer) -> ExecutionRead:
    return _read(ctx, execution_id)


@router.post("/actions/executions/{execution_id}/approve")
def approve(execution_id: int, ctx: Ctx, who: Responder) -> ExecutionRead:
    """Approve a pending execution: another responder than the requester, before its deadline."""
    with ctx.write() as session:
        row: ActionExecution = approvals.approve(
            session, execution_id=execution_id, approver=who.name, now=ctx.clock.now()
        )
        answer = ExecutionRead.model_validate(row)
    workers.wake(ctx)
    return answer


@router.post("/actions/executions/{execution_id}/decline")
def decline(execution_id: int, ctx: Ctx, who: Responder) -> ExecutionRead:
    with ctx.write() as session:
        row = approvals.decline(session, execution_id=execution_id, decider=who.name, now=ctx.clock.now())
        return ExecutionRead.model_validate(row)


@router.get("/actions/breakers")
def list_breakers(ctx: Ctx, _: Viewer) -> list[BreakerRead]:
    with ctx.read() as session:
        return [BreakerRead.model_validate(row) for row in service.list_breakers(session)]


@router.post("/actions/breakers/{action}/reset")
def reset_breaker(action: str, ctx: Ctx, _: Admin) -> BreakerRead:
    """Close an action's circuit breaker before its cool-down ends (admin)."""
    with ctx.write() as session:
        return BreakerRead.model_validate(service.reset_breaker(session, action=action, now=ctx.clock.now()))
