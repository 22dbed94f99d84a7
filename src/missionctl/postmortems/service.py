"""Postmortem use cases: read (drafting from the timeline until edited), edit, mark complete."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from missionctl.errors import Conflict
from missionctl.incidents import service as incidents
from missionctl.incidents.lifecycle import Status
from missionctl.incidents.models import Incident
from missionctl.incidents.schemas import IncidentRead, PostmortemRead
from missionctl.incidents.timeline import record_event
from missionctl.postmortems import markdown


def read(session: Session, *, incident_id: int, now: datetime) -> PostmortemRead:
    """The saved postmortem, or a fresh draft from the timeline if nobody has edited one."""
    incident = incidents.get(session, incident_id=incident_id)
    return _as_read(incident, now=now)


def _as_read(incident: Incident, *, now: datetime) -> PostmortemRead:
    saved = incident.postmortem_markdown
    text = saved if saved is not None else markdown.render(IncidentRead.build(incident, now=now))
    return PostmortemRead(
        incident_id=incident.id,
        markdown=text,
        draft=saved is None,
        completed_at=incident.postmortem_completed_at,
        completed_by=incident.postmortem_completed_by,
    )


def edit(session: Session, *, incident_id: int, text: str, actor: str, now: datetime) -> PostmortemRead:
    """Save the postmortem text; a completed postmortem is reopened for review by editing it."""
    incident = incidents.get(session, incident_id=incident_id, for_update=True)
    if incident.status == Status.CLOSED:
        raise Conflict(f"incident {incident.id} is closed; its postmortem is final", code="incident_closed")
    incident.postmortem_markdown = text
    if incident.postmortem_completed_at is not None:
        incident.postmortem_completed_at = None
        incident.postmortem_completed_by = None
    record_event(incident, now, actor, "postmortem_edited", "Postmortem edited")
    return _as_read(incident, now=now)


def complete(session: Session, *, incident_id: int, actor: str, now: datetime) -> PostmortemRead:
    """Mark the postmortem reviewed and complete; only a resolved incident can have one."""
    incident = incidents.get(session, incident_id=incident_id, for_update=True)
    if incident.status != Status.RESOLVED:
        raise Conflict(
            f"incident {incident.id} is {incident.status}; a postmortem is completed after resolution",
            code="incident_not_resolved",
        )
    if incident.postmortem_markdown is None:
        incident.postmortem_markdown = markdown.render(IncidentRead.build(incident, now=now))
    incident.postmortem_completed_at = now
    incident.postmortem_completed_by = actor
    record_event(incident, now, actor, "postmortem_completed", f"Postmortem marked complete by {actor}")
    return _as_read(incident, now=now)
