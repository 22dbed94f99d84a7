"""Incident pages: the list with filters and history, declaring, and the incident room with its actions.

Every change goes through `incidents.service` inside one `ctx.write()`, with the logged-in user as the
actor, then redirects back to the room (post/redirect/get), so the pages work without JavaScript too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from missionctl.actions import service as actions_service
from missionctl.context import AppContext
from missionctl.deps import Ctx
from missionctl.errors import InvalidInput
from missionctl.escalation import service as escalation
from missionctl.incidents import service
from missionctl.incidents.lifecycle import ALLOWED_TRANSITIONS, IncidentRole, Status, StepStatus
from missionctl.incidents.lifecycle import ActionItemStatus as ItemStatus
from missionctl.incidents.schemas import IncidentCreate, IncidentRead
from missionctl.runbooks.schemas import Severity
from missionctl.web import actions, analyzer, queries, releases, render
from missionctl.web.deps import PageRoute, Responder, User
from missionctl.web.service import CurrentUser

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)

HISTORY_PAGE = 25
Text = Annotated[str, Form(min_length=1, max_length=10_000)]
Name = Annotated[str, Form(min_length=1, max_length=200)]


def declare_options(ctx: AppContext, services: dict[str, str]) -> dict[str, Any]:
    """What the declare form offers: runbooks, severities, known services."""
    return {"runbooks": ctx.runbooks.all(), "severities": list(Severity), "services": services}


@router.get("/incidents")
def incident_list(
    request: Request,
    ctx: Ctx,
    user: User,
    severity: Annotated[Severity | None, Query()] = None,
    service_: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    runbook: Annotated[str | None, Query(max_length=32)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Open incidents first (most severe, newest), then the resolved history, a page at a time."""
    now = ctx.clock.now()
    filters = queries.Filters(severity=severity, service=service_ or None, runbook=runbook or None)
    with ctx.read() as session:
        current = queries.open_incidents(session, filters=filters) if before is None else None
        rows = queries.history(session, filters=filters, before_id=before, limit=HISTORY_PAGE + 1)
        services = queries.service_names(session)
        version = queries.list_version(session)
    history = rows[:HISTORY_PAGE]
    more = history[-1].id if len(rows) > HISTORY_PAGE else None
    return render.page(
        request,
        "incidents/list.html",
        now=now,
        user=user,
        current=current,
        history=history,
        more=more,
        filters=filters,
        open_limit=queries.OPEN_LIMIT,
        declare=declare_options(ctx, services),
        live_version=version,
    )


@router.post("/incidents")
def declare(
    ctx: Ctx,
    user: Responder,
    runbook: Annotated[str, Form()],
    service_: Annotated[str, Form(alias="service")],
    title: Annotated[str, Form()],
    severity: Annotated[str, Form()] = "",
    commander: Annotated[str, Form()] = "",
) -> Response:
    """Declare from the form (validated by the API's own schema); the declarer commands unless named."""
    body = IncidentCreate(
        runbook=runbook, service=service_, title=title, severity=severity or None, commander=commander or None
    )
    loaded = ctx.runbooks.get(body.runbook)
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = service.declare(
            session,
            runbook=loaded,
            service=body.service,
            title=body.title,
            severity=body.severity,
            commander=body.commander or user.username,
            actor=user.username,
            now=now,
        )
        incident_id = incident.id
    return _back(incident_id)


def room_view(session: Session, *, incident_id: int, now: datetime) -> IncidentRead:
    incident = service.get(session, incident_id=incident_id)
    return IncidentRead.build(incident, now=now, paging=escalation.paging_view(session, incident_id=incident_id))


def room_context(ctx: AppContext, read: IncidentRead, user: CurrentUser) -> dict[str, Any]:
    """Everything the room's template shows beyond the read model, decided here rather than in the template."""
    loaded = ctx.runbooks.entries.get(read.runbook_id)
    status = Status(read.status)
    return {
        "incident": read,
        "runbook": loaded.runbook if loaded else None,
        "is_open": status in queries.OPEN,
        "transitions": sorted(t for t in ALLOWED_TRANSITIONS[status] if t is not Status.RESOLVED),
        "can_resolve": Status.RESOLVED in ALLOWED_TRANSITIONS[status],
        "needs_action_item": read.severity in {Severity.SEV1, Severity.SEV2} and not read.action_items,
        "roles": list(IncidentRole),
        "events": list(reversed(read.timeline)),
        "updates_newest": list(reversed(read.updates)),
        "steps_done": sum(1 for s in read.steps if s.status != StepStatus.PENDING),
        "me": user.username,
    }


def automation_context(
    session: Session, ctx: AppContext, read: IncidentRead, user: CurrentUser, now: datetime
) -> dict[str, Any]:
    """The room's actions (step buttons, executions, approvals) and, for RB-001 / RB-002, releases and reports."""
    rows = actions_service.for_incident(session, incident_id=read.id)
    context = actions.room_actions(ctx, read, rows, user, can_write=actions.can_write(user))
    context["release"] = releases.room_release(session, ctx, read, now)
    context["analysis"] = analyzer.room_reports(session, read)
    return context


def _room_page(template: str, incident_id: int, request: Request, ctx: AppContext, user: CurrentUser) -> Response:
    now = ctx.clock.now()
    with ctx.read() as session:
        read = room_view(session, incident_id=incident_id, now=now)
        version = queries.live_version(session, incident_id=incident_id)
        extra = automation_context(session, ctx, read, user, now)
    context = room_context(ctx, read, user) | extra
    return render.page(request, template, now=now, user=user, live_version=version, **context)


@router.get("/incidents/{incident_id}")
def room(incident_id: int, request: Request, ctx: Ctx, user: User) -> Response:
    """The incident room: clocks, checklist and actions, people and pages, updates, action items, the timeline."""
    return _room_page("incidents/room.html", incident_id, request, ctx, user)


@router.get("/incidents/{incident_id}/live")
def room_fragment(incident_id: int, request: Request, ctx: Ctx, user: User) -> Response:
    """Just the live sections of the room, for the page's script to swap in after a change."""
    return _room_page("incidents/live.html", incident_id, request, ctx, user)


def _back(incident_id: int, anchor: str = "") -> Response:
    return RedirectResponse(f"/incidents/{incident_id}{'#' + anchor if anchor else ''}", status_code=303)


@router.post("/incidents/{incident_id}/acknowledge")
def acknowledge(incident_id: int, ctx: Ctx, user: Responder) -> Response:
    with ctx.write() as session:
        service.acknowledge(session, incident_id=incident_id, actor=user.username, now=ctx.clock.now())
    return _back(incident_id)


@router.post("/incidents/{incident_id}/steps/{position}")
def set_step(
    incident_id: int,
    position: int,
    ctx: Ctx,
    user: Responder,
    status: Annotated[StepStatus, Form()],
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """One click per checklist step: done, skipped, or back to pending."""
    with ctx.write() as session:
        service.set_step(
            session,
            incident_id=incident_id,
            position=position,
            status=status,
            note=note.strip() or None,
            actor=user.username,
            now=ctx.clock.now(),
        )
    return _back(incident_id, f"step-{position}")


@router.post("/incidents/{incident_id}/updates")
def post_update(incident_id: int, ctx: Ctx, user: Responder, message: Text) -> Response:
    """Post a stakeholder update (it shows on the public status page and goes to subscribers)."""
    with ctx.write() as session:
        service.post_update(
            session, incident_id=incident_id, message=message.strip(), actor=user.username, now=ctx.clock.now()
        )
    return _back(incident_id, "updates")


@router.post("/incidents/{incident_id}/roles")
def assign_role(
    incident_id: int, ctx: Ctx, user: Responder, role: Annotated[IncidentRole, Form()], assignee: Name
) -> Response:
    """Give a role to someone, or hand it over; the timeline records who held it before."""
    with ctx.write() as session:
        service.assign_role(
            session,
            incident_id=incident_id,
            role=role,
            assignee=assignee.strip(),
            actor=user.username,
            now=ctx.clock.now(),
        )
    return _back(incident_id, "people")


@router.post("/incidents/{incident_id}/action-items")
def add_action_item(
    incident_id: int,
    ctx: Ctx,
    user: Responder,
    title: Annotated[str, Form(min_length=1, max_length=500)],
    assignee: Name,
    due: Annotated[date, Form()],
) -> Response:
    """Add a follow-up with an assignee; it is due at the end of the chosen day (UTC)."""
    with ctx.write() as session:
        service.add_action_item(
            session,
            incident_id=incident_id,
            title=title.strip(),
            assignee=assignee.strip(),
            due_at=datetime.combine(due, time(23, 59), tzinfo=UTC),
            actor=user.username,
            now=ctx.clock.now(),
        )
    return _back(incident_id, "action-items")


@router.post("/incidents/{incident_id}/action-items/{item_id}")
def set_action_item(
    incident_id: int, item_id: int, ctx: Ctx, user: Responder, status: Annotated[ItemStatus, Form()]
) -> Response:
    with ctx.write() as session:
        service.set_action_item_status(
            session, incident_id=incident_id, item_id=item_id, status=status, actor=user.username, now=ctx.clock.now()
        )
    return _back(incident_id, "action-items")


@router.post("/incidents/{incident_id}/transitions")
def transition(
    incident_id: int,
    ctx: Ctx,
    user: Responder,
    to: Annotated[Status, Form()],
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    with ctx.write() as session:
        service.transition(
            session, incident_id=incident_id, to=to, note=note.strip() or None, actor=user.username, now=ctx.clock.now()
        )
    return _back(incident_id)


@router.post("/incidents/{incident_id}/resolve")
def resolve(
    incident_id: int,
    ctx: Ctx,
    user: Responder,
    evidence: Text,
    confirmed: Annotated[str, Form()] = "",
    confirmed_by: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Resolve with a recovery confirmation: the box ticked, who confirmed it, and the evidence."""
    if confirmed != "yes":
        raise InvalidInput(
            "tick “Service has recovered” to confirm recovery before resolving", code="recovery_not_confirmed"
        )
    with ctx.write() as session:
        service.resolve(
            session,
            incident_id=incident_id,
            confirmed_by=confirmed_by.strip() or user.username,
            evidence=evidence.strip(),
            actor=user.username,
            now=ctx.clock.now(),
        )
    return _back(incident_id)
