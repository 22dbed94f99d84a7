"""`/api/v1` on-call views: who is on call now, and iCalendar feeds of schedules and of a person's shifts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from missionctl.auth.roles import Role
from missionctl.auth.service import Principal
from missionctl.catalog import models, service
from missionctl.deps import Ctx, Viewer, current_principal
from missionctl.errors import PermissionDenied
from missionctl.oncall.ical import person_calendar, schedule_calendar
from missionctl.oncall.resolve import next_handoffs, on_call_at
from missionctl.oncall.schemas import ScheduleSpec

router = APIRouter(tags=["on-call"])

FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=60)
CALENDAR_TYPE = "text/calendar; charset=utf-8"

_bearer = HTTPBearer(auto_error=False, description="An API token from `missionctl token create`")


class HandoffRead(BaseModel):
    at: datetime
    person: str | None
    person_name: str | None


class OnCallEntry(BaseModel):
    schedule: str
    schedule_name: str
    teams: list[str]
    person: str | None
    person_name: str | None
    next_handoff: HandoffRead | None


class OnCallNow(BaseModel):
    at: datetime
    team: str | None
    entries: list[OnCallEntry]
    notes: list[str]


def feed_reader(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(description="A viewer token, for calendar apps that cannot send headers")
    ] = None,
) -> Principal:
    """The caller, by header or (calendar apps) `?token=`; a URL token must be a viewer token."""
    if credentials is not None or not token:
        return current_principal(ctx, credentials)
    principal = current_principal(ctx, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
    if principal.role != Role.VIEWER:
        # Calendar URLs end up in calendar apps, sync services and proxy logs; keep them read-only.
        raise PermissionDenied(
            f"a token in the URL must be a viewer token; {principal.name} is {principal.role}: "
            "create one with `missionctl token create --role viewer`",
            code="viewer_token_required",
        )
    return principal


FeedReader = Annotated[Principal, Depends(feed_reader)]


@router.get("/oncall")
def who_is_on_call(
    ctx: Ctx,
    _: Viewer,
    team: Annotated[str | None, Query(description="Only this team's schedule")] = None,
) -> OnCallNow:
    """Who is on call now in every schedule (or a team's), and the next hand-off of each."""
    now = ctx.clock.now()
    notes: list[str] = []
    with ctx.read() as session:
        names = {p.id: p.name for p in service.list_all(session, model=models.Person)}
        teams = service.list_all(session, model=models.Team)
        schedules = service.list_all(session, model=models.Schedule)
        if team is not None:
            schedules = _team_schedules(session, team, schedules, names, notes)
        entries = [_entry(service.schedule_spec(row), teams, names, now) for row in schedules]
    return OnCallNow(at=now, team=team, entries=entries, notes=notes)


def _team_schedules(
    session: Session,
    team_id: str,
    schedules: list[models.Schedule],
    names: dict[str, str],
    notes: list[str],
) -> list[models.Schedule]:
    row = service.get(session, model=models.Team, entity_id=team_id)
    if row.schedule_id is None:
        members = ", ".join(names.get(m.person_id, m.person_id) for m in row.members) or "nobody"
        notes.append(f"team {team_id} has no schedule: a page to it goes to every member ({members})")
    return [s for s in schedules if s.id == row.schedule_id]


def _entry(spec: ScheduleSpec, teams: list[models.Team], names: dict[str, str], now: datetime) -> OnCallEntry:
    person = on_call_at(spec, now)
    upcoming = next_handoffs(spec, now, 1)
    handoff = None
    if upcoming:
        nxt = upcoming[0]
        handoff = HandoffRead(at=nxt.start, person=nxt.person, person_name=_name(names, nxt.person))
    return OnCallEntry(
        schedule=spec.id,
        schedule_name=spec.name,
        teams=[t.id for t in teams if t.schedule_id == spec.id],
        person=person,
        person_name=_name(names, person),
        next_handoff=handoff,
    )


def _name(names: dict[str, str], person: str | None) -> str | None:
    return None if person is None else names.get(person, person)


def _calendar(body: bytes, filename: str) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{filename}.ics"', "Cache-Control": "no-cache"}
    return Response(content=body, media_type=CALENDAR_TYPE, headers=headers)


_CALENDAR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {}}, "description": "An iCalendar feed"}
}


@router.get("/schedules/{schedule_id}/ical", response_class=Response, responses=_CALENDAR_RESPONSE)
def schedule_feed(schedule_id: str, ctx: Ctx, _: FeedReader) -> Response:
    """The schedule's shifts from 7 days ago to 60 days ahead, for calendar apps (`?token=` accepted)."""
    now = ctx.clock.now()
    with ctx.read() as session:
        spec = service.schedule_spec(service.get(session, model=models.Schedule, entity_id=schedule_id))
    return _calendar(schedule_calendar(spec, now - FEED_PAST, now + FEED_FUTURE, now), schedule_id)


@router.get("/people/{person_id}/ical", response_class=Response, responses=_CALENDAR_RESPONSE)
def person_feed(person_id: str, ctx: Ctx, _: FeedReader) -> Response:
    """One person's shifts across every schedule, 7 days back to 60 ahead (`?token=` accepted)."""
    now = ctx.clock.now()
    with ctx.read() as session:
        service.get(session, model=models.Person, entity_id=person_id)
        specs = [service.schedule_spec(row) for row in service.list_all(session, model=models.Schedule)]
    return _calendar(person_calendar(person_id, specs, now - FEED_PAST, now + FEED_FUTURE, now), person_id)
