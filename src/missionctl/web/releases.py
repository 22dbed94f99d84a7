"""The release ledger page: each service's releases with verdicts, the last known healthy one, and deploy freezes.

Reads go through `releases.service` (the ledger, the last known healthy release, freezes); setting and lifting a
freeze by hand call the same service functions as `POST /api/v1/freezes`, one transaction each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.context import AppContext
from missionctl.deployments.models import Deployment
from missionctl.deps import Ctx
from missionctl.errors import InvalidInput
from missionctl.incidents.schemas import IncidentRead
from missionctl.releases import config, rules, service
from missionctl.releases.models import DeployFreeze
from missionctl.web import queries, render
from missionctl.web.deps import PageRoute, Responder, User
from missionctl.web.queries import ReleaseRow

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)

OVERVIEW_ROWS = 8  # releases per service on the overview; one service's page shows more
SERVICE_ROWS = 50
MAX_SERVICES = 100
FREEZE_LIMIT = 200
ROLLBACK_RUNBOOK = "RB-001"
HEALTHY_SCAN = 3  # healthy releases read per service; the last known healthy one is almost always among them
ROOM_ROWS = 5


@dataclass
class ServiceLedger:
    """One service: its releases newest first, the one running, the last known healthy one, its freezes."""

    service_id: str
    name: str
    environment: str
    releases: list[ReleaseRow] = field(default_factory=list)
    current: ReleaseRow | None = None
    healthy: ReleaseRow | None = None
    freezes: list[DeployFreeze] = field(default_factory=list)


def environment_of(ctx: AppContext, service_id: str) -> tuple[str, str]:
    """The environment the service's verdicts are kept for, and a problem with the releases file if any."""
    try:
        return config.load(ctx.settings.releases_file).for_service(service_id).environment, ""
    except InvalidInput as exc:
        return config.ServiceReleases().environment, f"The releases file cannot be used: {exc.message}"


def _as_row(deployment: Deployment | None, session: Session) -> ReleaseRow | None:
    if deployment is None:
        return None
    verdict = service.verdict_of(session, deployment.id)
    return ReleaseRow(
        id=deployment.id,
        service_id=deployment.service_id,
        version=deployment.version,
        artifact_digest=deployment.artifact_digest,
        environment=deployment.environment,
        deployed_by=deployment.deployed_by,
        deployed_at=deployment.deployed_at,
        verdict=verdict.verdict if verdict is not None else None,
        reason=verdict.reason if verdict is not None else None,
    )


def _fill(session: Session, ledger: ServiceLedger, healthy: list[ReleaseRow], *, read_all: bool, now: datetime) -> None:
    """The running and last known healthy release, from the rows read in bulk; the service's own queries only
    when those rows cannot tell (more releases than were read)."""
    env, sid = ledger.environment, ledger.service_id
    ledger.current = next((r for r in ledger.releases if r.environment == env and r.deployed_at <= now), None)
    if ledger.current is None and not read_all:
        found = service.current(session, service_id=sid, environment=env, at=now)
        ledger.current = _as_row(found, session)
    digest = ledger.current.artifact_digest if ledger.current is not None else None
    ledger.healthy = next((h for h in healthy if h.environment == env and h.artifact_digest != digest), None)
    if ledger.healthy is None and len([h for h in healthy if h.environment == env]) >= HEALTHY_SCAN:
        found = service.last_known_healthy(session, service_id=sid, environment=env, exclude_digest=digest)
        ledger.healthy = _as_row(found, session)


def ledgers_of(
    session: Session, ctx: AppContext, *, service_ids: list[str], names: dict[str, str], rows: int, now: datetime
) -> list[ServiceLedger]:
    """Each service's ledger: two queries for all of them (window functions), whatever their number."""
    recent: dict[str, list[ReleaseRow]] = {}
    for row in queries.recent_releases(session, service_ids=service_ids, per_service=rows):
        recent.setdefault(row.service_id, []).append(row)
    healthy: dict[str, list[ReleaseRow]] = {}
    for row in queries.recent_healthy(session, service_ids=service_ids, per_service=HEALTHY_SCAN):
        healthy.setdefault(row.service_id, []).append(row)
    ledgers = []
    for sid in service_ids:
        releases = recent.get(sid, [])
        ledger = ServiceLedger(sid, names.get(sid, sid), environment_of(ctx, sid)[0], releases=releases)
        _fill(session, ledger, healthy.get(sid, []), read_all=len(releases) < rows, now=now)
        ledgers.append(ledger)
    return ledgers


def open_freezes(session: Session, *, service_id: str | None, now: datetime) -> dict[str, list[DeployFreeze]]:
    """Freezes in force or still to come (not lifted, not over), per service."""
    found: dict[str, list[DeployFreeze]] = {}
    for row in service.listing_freezes(session, service_id=service_id, include_lifted=False, limit=FREEZE_LIMIT):
        if row.ends_at is None or row.ends_at > now:
            found.setdefault(row.service_id, []).append(row)
    return found


def services_with_releases(session: Session) -> list[str]:
    query = select(Deployment.service_id).distinct().order_by(Deployment.service_id).limit(MAX_SERVICES)
    return list(session.scalars(query))


def in_force(row: DeployFreeze, now: datetime) -> bool:
    return rules.freeze_in_force(starts_at=row.starts_at, ends_at=row.ends_at, lifted_at=row.lifted_at, now=now)


@router.get("/releases")
def releases_page(
    request: Request,
    ctx: Ctx,
    user: User,
    service_: Annotated[str | None, Query(alias="service", max_length=100)] = None,
) -> Response:
    """Per service: the ledger with verdicts, the last known healthy release, and the freezes."""
    now = ctx.clock.now()
    with ctx.read() as session:
        names = queries.service_names(session)
        freezes = open_freezes(session, service_id=service_ or None, now=now)
        ids = [service_] if service_ else sorted({*services_with_releases(session), *freezes})
        rows = SERVICE_ROWS if service_ else OVERVIEW_ROWS
        ledgers = ledgers_of(session, ctx, service_ids=ids, names=names, rows=rows, now=now)
    for ledger in ledgers:
        ledger.freezes = freezes.get(ledger.service_id, [])
    _, problem = environment_of(ctx, service_ or "")
    return render.page(
        request,
        "releases/index.html",
        now=now,
        user=user,
        ledgers=ledgers,
        selected=service_ or "",
        services=names,
        problem=problem,
        in_force=in_force,
    )


@router.post("/releases/freezes")
def set_freeze(
    ctx: Ctx,
    user: Responder,
    service_: Annotated[str, Form(alias="service", min_length=1, max_length=100)],
    minutes: Annotated[int, Form(ge=1, le=525_600)],
    reason: Annotated[str, Form(min_length=1, max_length=500)],
) -> Response:
    """Freeze deployments of a service by hand, from now for `minutes`."""
    now = ctx.clock.now()
    service_id = service_.strip()
    with ctx.write() as session:
        service.require_service(session, service_id)
        service.freeze(
            session,
            service_id=service_id,
            reason=reason.strip(),
            starts_at=now,
            ends_at=now + timedelta(minutes=minutes),
            incident_id=None,
            actor=user.username,
            now=now,
        )
    return RedirectResponse(f"/releases?service={service_id}#freezes-{service_id}", status_code=303)


@router.post("/releases/freezes/{freeze_id}/lift")
def lift_freeze(freeze_id: int, ctx: Ctx, user: Responder) -> Response:
    """Lift a freeze now (an incident's freeze too: deployments may go out again)."""
    with ctx.write() as session:
        row = service.lift(session, freeze_id=freeze_id, actor=user.username, now=ctx.clock.now())
        service_id = row.service_id
    return RedirectResponse(f"/releases?service={service_id}#freezes-{service_id}", status_code=303)


def room_release(session: Session, ctx: AppContext, read: IncidentRead, now: datetime) -> dict[str, Any] | None:
    """For an RB-001 room: the release running against the last known healthy one (None for other runbooks)."""
    if read.runbook_id != ROLLBACK_RUNBOOK:
        return None
    ledger = ledgers_of(session, ctx, service_ids=[read.service], names={}, rows=ROOM_ROWS, now=now)[0]
    return {
        "service": read.service,
        "environment": ledger.environment,
        "current": ledger.current,
        "healthy": ledger.healthy,
    }
