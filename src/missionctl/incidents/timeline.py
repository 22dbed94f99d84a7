"""Append to an incident's timeline; every domain that acts on an incident records through here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from missionctl.db import inserting
from missionctl.incidents.models import Incident, TimelineEvent

SYSTEM_ACTOR = "missionctl"
_INSERT = insert(cast(Table, TimelineEvent.__table__))  # a row of its own, not an object in the session


def record_event(incident: Incident, now: datetime, actor: str, kind: str, summary: str, **data: Any) -> None:
    session = object_session(incident)
    if session is None or incident.id is None:  # not stored yet: the event goes in with the incident
        incident.timeline.append(TimelineEvent(at=now, actor=actor, kind=kind, summary=summary, data=data))
        return
    # Stored already: the event is its own row, inserted now (so ids follow the order things happened in), and a
    # loaded timeline shows it as if read back. Appending to the collection instead would make the incident
    # itself dirty, and every later flush in the transaction would work through all six of its collections again
    # (measured: ~1,100 function calls a flush).
    row = {"incident_id": incident.id, "at": now, "actor": actor, "kind": kind, "summary": summary, "data": data}
    if "timeline" in inspect(incident).unloaded:
        session.execute(_INSERT, [row])
    else:
        event: TimelineEvent = session.scalars(inserting(TimelineEvent), [row]).one()
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
    if isinstance(incident, int) or "timeline" in inspect(incident).unloaded:
        incident_id = incident if isinstance(incident, int) else incident.id
        row = {"incident_id": incident_id, "at": now, "actor": actor, "kind": kind, "summary": summary, "data": data}
        session.execute(_INSERT, [row])
    else:
        record_event(incident, now, actor, kind, summary, **data)
