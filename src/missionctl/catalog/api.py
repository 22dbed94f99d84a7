"""`/api/v1` catalog resources: read with a viewer token, replace or delete with an admin token."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from missionctl.auth.roles import Role, allows
from missionctl.auth.service import Principal
from missionctl.catalog import models, schemas, service
from missionctl.context import AppContext
from missionctl.deps import Admin, Ctx, Viewer
from missionctl.errors import InvalidInput
from missionctl.oncall.schemas import ScheduleSpec

router = APIRouter(tags=["catalog"])

M = TypeVar("M", models.Person, models.Schedule, models.EscalationPolicy, models.Team, models.Service)
T = TypeVar("T", bound=BaseModel)
WithId = schemas.Person | ScheduleSpec | schemas.EscalationPolicy | schemas.Team | schemas.Service


def _read(session: Session, row: service.Row, read: type[T], *, reveal: bool = True) -> T:
    """The API shape of a stored entity: its catalog model plus timestamps (and derived fields)."""
    data: dict[str, Any] = service.spec_of(row).model_dump(by_alias=True)
    data |= {"created_at": row.created_at, "updated_at": row.updated_at}
    if isinstance(row, models.Person) and not reveal:
        data["contact_methods"] = [_redacted(m) for m in data["contact_methods"]]
    if isinstance(row, models.Service):
        data["effective_escalation_policy"] = service.effective_policy_id(session, service=row)
    return read.model_validate(data)


def _redacted(method: dict[str, Any]) -> dict[str, Any]:
    return method | {"address": schemas.redact(method["kind"], method["address"])}


def _list(ctx: AppContext, model: type[M], read: type[T], who: Principal) -> list[T]:
    reveal = allows(who.role, Role.ADMIN)
    with ctx.read() as session:
        return [_read(session, row, read, reveal=reveal) for row in service.list_all(session, model=model)]


def _get(ctx: AppContext, model: type[M], read: type[T], entity_id: str, who: Principal) -> T:
    with ctx.read() as session:
        row = service.get(session, model=model, entity_id=entity_id)
        return _read(session, row, read, reveal=allows(who.role, Role.ADMIN))


def _put(ctx: AppContext, model: type[M], read: type[T], entity_id: str, spec: WithId, response: Response) -> T:
    if spec.id != entity_id:
        raise InvalidInput(
            f"the body's id {spec.id!r} differs from the id in the path {entity_id!r}",
            code="id_mismatch",
            details=[{"field": "id", "message": "must equal the id in the path"}],
        )
    runbook_ids = set(ctx.runbooks.entries)
    with ctx.write() as session:
        outcome = service.save(session, spec=spec, now=ctx.clock.now(), runbook_ids=runbook_ids)
        response.status_code = status.HTTP_201_CREATED if outcome is service.Outcome.CREATED else 200
        return _read(session, service.get(session, model=model, entity_id=entity_id), read)


def _delete(ctx: AppContext, model: type[M], entity_id: str) -> Response:
    with ctx.write() as session:
        service.delete(session, model=model, entity_id=entity_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Services -----------------------------------------------------------------------------------------------


@router.get("/services")
def list_services(ctx: Ctx, who: Viewer) -> list[schemas.ServiceRead]:
    return _list(ctx, models.Service, schemas.ServiceRead, who)


@router.get("/services/{service_id}")
def get_service(service_id: str, ctx: Ctx, who: Viewer) -> schemas.ServiceRead:
    return _get(ctx, models.Service, schemas.ServiceRead, service_id, who)


@router.put("/services/{service_id}", responses={201: {"description": "Created"}})
def put_service(service_id: str, body: schemas.Service, ctx: Ctx, _: Admin, response: Response) -> schemas.ServiceRead:
    """Create or replace a service; its team, policy, role holders and runbooks must exist (422)."""
    return _put(ctx, models.Service, schemas.ServiceRead, service_id, body, response)


@router.delete("/services/{service_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_service(service_id: str, ctx: Ctx, _: Admin) -> Response:
    """Delete a service; 409 `catalog_in_use` while subscribers name it."""
    return _delete(ctx, models.Service, service_id)


# Teams --------------------------------------------------------------------------------------------------


@router.get("/teams")
def list_teams(ctx: Ctx, who: Viewer) -> list[schemas.TeamRead]:
    return _list(ctx, models.Team, schemas.TeamRead, who)


@router.get("/teams/{team_id}")
def get_team(team_id: str, ctx: Ctx, who: Viewer) -> schemas.TeamRead:
    return _get(ctx, models.Team, schemas.TeamRead, team_id, who)


@router.put("/teams/{team_id}", responses={201: {"description": "Created"}})
def put_team(team_id: str, body: schemas.Team, ctx: Ctx, _: Admin, response: Response) -> schemas.TeamRead:
    """Create or replace a team; its members, schedule and policy must exist (422)."""
    return _put(ctx, models.Team, schemas.TeamRead, team_id, body, response)


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_team(team_id: str, ctx: Ctx, _: Admin) -> Response:
    """Delete a team; 409 `catalog_in_use` while a service or policy names it."""
    return _delete(ctx, models.Team, team_id)


# People -------------------------------------------------------------------------------------------------


@router.get("/people")
def list_people(ctx: Ctx, who: Viewer) -> list[schemas.PersonRead]:
    """Webhook and Apprise addresses are shortened for callers below admin: they often hold credentials."""
    return _list(ctx, models.Person, schemas.PersonRead, who)


@router.get("/people/{person_id}")
def get_person(person_id: str, ctx: Ctx, who: Viewer) -> schemas.PersonRead:
    return _get(ctx, models.Person, schemas.PersonRead, person_id, who)


@router.put("/people/{person_id}", responses={201: {"description": "Created"}})
def put_person(person_id: str, body: schemas.Person, ctx: Ctx, _: Admin, response: Response) -> schemas.PersonRead:
    """Create or replace a person; contact methods keep their identity by `id`."""
    return _put(ctx, models.Person, schemas.PersonRead, person_id, body, response)


@router.delete("/people/{person_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_person(person_id: str, ctx: Ctx, _: Admin) -> Response:
    """Delete a person; 409 `catalog_in_use` while a team, schedule, policy or service names them."""
    return _delete(ctx, models.Person, person_id)


# Schedules ----------------------------------------------------------------------------------------------


@router.get("/schedules")
def list_schedules(ctx: Ctx, who: Viewer) -> list[schemas.ScheduleRead]:
    return _list(ctx, models.Schedule, schemas.ScheduleRead, who)


@router.get("/schedules/{schedule_id}")
def get_schedule(schedule_id: str, ctx: Ctx, who: Viewer) -> schemas.ScheduleRead:
    return _get(ctx, models.Schedule, schemas.ScheduleRead, schedule_id, who)


@router.put("/schedules/{schedule_id}", responses={201: {"description": "Created"}})
def put_schedule(schedule_id: str, body: ScheduleSpec, ctx: Ctx, _: Admin, response: Response) -> schemas.ScheduleRead:
    """Create or replace a schedule; every participant and override person must exist (422)."""
    return _put(ctx, models.Schedule, schemas.ScheduleRead, schedule_id, body, response)


@router.delete("/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: str, ctx: Ctx, _: Admin) -> Response:
    """Delete a schedule; 409 `catalog_in_use` while a team, policy or service role names it."""
    return _delete(ctx, models.Schedule, schedule_id)


# Escalation policies ------------------------------------------------------------------------------------


@router.get("/escalation-policies")
def list_policies(ctx: Ctx, who: Viewer) -> list[schemas.EscalationPolicyRead]:
    return _list(ctx, models.EscalationPolicy, schemas.EscalationPolicyRead, who)


@router.get("/escalation-policies/{policy_id}")
def get_policy(policy_id: str, ctx: Ctx, who: Viewer) -> schemas.EscalationPolicyRead:
    return _get(ctx, models.EscalationPolicy, schemas.EscalationPolicyRead, policy_id, who)


@router.put("/escalation-policies/{policy_id}", responses={201: {"description": "Created"}})
def put_policy(
    policy_id: str, body: schemas.EscalationPolicy, ctx: Ctx, _: Admin, response: Response
) -> schemas.EscalationPolicyRead:
    """Create or replace an escalation policy; people, schedules and teams it pages must exist (422)."""
    return _put(ctx, models.EscalationPolicy, schemas.EscalationPolicyRead, policy_id, body, response)


@router.delete("/escalation-policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(policy_id: str, ctx: Ctx, _: Admin) -> Response:
    """Delete a policy; 409 `catalog_in_use` while a team or service uses it."""
    return _delete(ctx, models.EscalationPolicy, policy_id)


# Subscribers --------------------------------------------------------------------------------------------


def _subscriber(row: models.Subscriber, *, reveal: bool) -> schemas.SubscriberRead:
    address = row.address if reveal else schemas.redact(row.kind, row.address)
    spec = service.subscriber_spec(row).model_dump() | {"address": address}
    return schemas.SubscriberRead(**spec, id=row.id, created_at=row.created_at, updated_at=row.updated_at)


@router.get("/subscribers")
def list_subscribers(ctx: Ctx, who: Viewer) -> list[schemas.SubscriberRead]:
    with ctx.read() as session:
        reveal = allows(who.role, Role.ADMIN)
        return [_subscriber(row, reveal=reveal) for row in service.list_subscribers(session)]


@router.post("/subscribers", status_code=status.HTTP_201_CREATED, responses={200: {"description": "Existed"}})
def create_subscriber(body: schemas.Subscriber, ctx: Ctx, _: Admin, response: Response) -> schemas.SubscriberRead:
    """Subscribe a stakeholder to a service ('*': all); the same service, kind and address again is 200."""
    with ctx.write() as session:
        outcome = service.save(session, spec=body, now=ctx.clock.now())
        if outcome is not service.Outcome.CREATED:
            response.status_code = status.HTTP_200_OK
        row = service.find_subscriber(session, spec=body)
        assert row is not None  # just saved
        return _subscriber(row, reveal=True)


@router.delete("/subscribers/{subscriber_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscriber(subscriber_id: int, ctx: Ctx, _: Admin) -> Response:
    with ctx.write() as session:
        service.delete_subscriber(session, subscriber_id=subscriber_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
