"""Acknowledge links from pages (no login: the signed token is the credential) and notification listings."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from missionctl.deps import Ctx, Viewer
from missionctl.escalation import acklink
from missionctl.escalation.schemas import NotificationRead
from missionctl.incidents import service as incidents
from missionctl.notifications import service as outbox
from missionctl.notifications.models import NotificationStatus

router = APIRouter(tags=["paging"])

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font:18px/1.5 system-ui,sans-serif;background:#111;color:#eee;max-width:32rem;margin:2rem auto;
padding:0 1rem}}button{{font-size:1.2rem;padding:.8rem 1.6rem;background:#f5c518;color:#111;border:0;
border-radius:.4rem;cursor:pointer}}</style></head><body>{body}</body></html>"""


def _claim(ctx: Ctx, token: str) -> acklink.AckClaim:
    with ctx.write() as session:  # the signing secret is created on first use
        secret = outbox.server_secret(session, name="ack_link", now=ctx.clock.now())
    return acklink.read_token(secret, token, now=ctx.clock.now())


@router.get("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm_ack(token: str, ctx: Ctx) -> HTMLResponse:
    """A page with one button: link previews (chat unfurlers, mail scanners) must not acknowledge by GET."""
    claim = _claim(ctx, token)
    with ctx.read() as session:
        incident = incidents.get(session, incident_id=claim.incident_id)
        title = f"INC-{incident.id} {incident.title}"
        state = f"acknowledged by {incident.acknowledged_by}" if incident.acknowledged_at else "not acknowledged yet"
    body = (
        f"<h1>{escape(title)}</h1><p>{escape(incident.severity)} on {escape(incident.service)}, {state}.</p>"
        f'<form method="post"><button type="submit">Acknowledge as {escape(claim.person_id)}</button></form>'
    )
    return HTMLResponse(_PAGE.format(title=escape(title), body=body))


@router.post("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
def acknowledge_by_link(token: str, ctx: Ctx) -> HTMLResponse:
    """Acknowledge as the paged person; escalation stops for everyone."""
    claim = _claim(ctx, token)
    now = ctx.clock.now()
    with ctx.write() as session:
        incident = incidents.acknowledge(session, incident_id=claim.incident_id, actor=claim.person_id, now=now)
        title, who = f"INC-{incident.id} {incident.title}", incident.acknowledged_by
    body = f"<h1>Acknowledged</h1><p>{escape(title)} is acknowledged by {escape(who or claim.person_id)}.</p>"
    return HTMLResponse(_PAGE.format(title="Acknowledged", body=body))


@router.get("/api/v1/notifications")
def list_notifications(
    ctx: Ctx,
    _: Viewer,
    status: NotificationStatus | None = None,
    incident_id: int | None = None,
    person: str | None = None,
    limit: int = 100,
) -> list[NotificationRead]:
    """The outbox: `status=failed_perm` is the dead-letter list, `person=alice` is alice's inbox."""
    with ctx.read() as session:
        rows = outbox.listing(
            session, status=status, incident_id=incident_id, person=person, limit=min(max(limit, 1), 1000)
        )
        return [NotificationRead.model_validate(r) for r in rows]
