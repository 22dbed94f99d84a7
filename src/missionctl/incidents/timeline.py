"""Append to an incident's timeline; every domain that acts on an incident records through here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from missionctl.incidents.models import Incident, TimelineEvent

SYSTEM_ACTOR = "missionctl"


def record_event(incident: Incident, now: datetime, actor: str, kind: str, summary: str, **data: Any) -> None:
    event = TimelineEvent(at=now, actor=actor, kind=kind, summary=summary, data=data)
    session = object_session(incident)
    if session is None or incident.id is None:  # not stored yet: the event goes in with the incident
        incident.timeline.append(event)
        return
    # Stored already: the event is its own row, and a loaded timeline shows it as if read back. Appending to
    # the collection instead would make the incident itself dirty, and every later flush in the transaction
    # would work through all six of its collections again (measured: ~1,100 function calls a flush).
    event.incident_id = incident.id
    session.add(event)
    if "timeline" not in inspect(incident).unloaded:
        set_committed_value(incident, "timeline", [*incident.timeline, event])


def note(
    session: Session,
    incident: Incident | int,
    now: datetime,
    kind: str,
    summary: str,
    *,
    actor: str = SYSTEM_ACTOR,
    **data: Any,
) -> None:
    """Record by the system (or `actor`). Appends to a loaded timeline; otherwise inserts without loading it
    (an incident id alone is enough for that: callers on hot paths need not load the incident)."""
    if isinstance(incident, int):
        session.add(TimelineEvent(incident_id=incident, at=now, actor=actor, kind=kind, summary=summary, data=data))
    elif "timeline" in inspect(incident).unloaded:
        session.add(TimelineEvent(incident_id=incident.id, at=now, actor=actor, kind=kind, summary=summary, data=data))
    else:
        record_event(incident, now, actor, kind, summary, **data)
