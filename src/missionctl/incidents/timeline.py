"""Append to an incident's timeline; every domain that acts on an incident records through here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from missionctl.incidents.models import Incident, TimelineEvent

SYSTEM_ACTOR = "missionctl"


def record_event(incident: Incident, now: datetime, actor: str, kind: str, summary: str, **data: Any) -> None:
    incident.timeline.append(TimelineEvent(at=now, actor=actor, kind=kind, summary=summary, data=data))
