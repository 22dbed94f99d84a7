"""`/api/v1/incidents/{id}/postmortem`: read the draft, edit it, mark it complete, export Markdown."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from missionctl.deps import Ctx, Responder, Viewer
from missionctl.incidents.schemas import PostmortemEdit, PostmortemRead
from missionctl.postmortems import service

router = APIRouter(prefix="/incidents/{incident_id}/postmortem", tags=["postmortems"])


@router.get("")
def read_postmortem(incident_id: int, ctx: Ctx, _: Viewer) -> PostmortemRead:
    with ctx.read() as session:
        return service.read(session, incident_id=incident_id, now=ctx.clock.now())


@router.get("/export", response_class=PlainTextResponse)
def export_postmortem(incident_id: int, ctx: Ctx, _: Viewer) -> PlainTextResponse:
    """The postmortem as a Markdown file download."""
    with ctx.read() as session:
        text = service.read(session, incident_id=incident_id, now=ctx.clock.now()).markdown
    return PlainTextResponse(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="INC-{incident_id}-postmortem.md"'},
    )


@router.put("")
def edit_postmortem(incident_id: int, body: PostmortemEdit, ctx: Ctx, who: Responder) -> PostmortemRead:
    with ctx.write() as session:
        return service.edit(session, incident_id=incident_id, text=body.markdown, actor=who.name, now=ctx.clock.now())


@router.post("/complete")
def complete_postmortem(incident_id: int, ctx: Ctx, who: Responder) -> PostmortemRead:
    """Mark the postmortem complete; closing the incident needs this."""
    with ctx.write() as session:
        return service.complete(session, incident_id=incident_id, actor=who.name, now=ctx.clock.now())
