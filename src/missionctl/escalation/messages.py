"""What pages, reminders and updates say: written for someone reading them half-awake (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from missionctl.incidents.models import Incident


def _when(value: datetime) -> str:
    return value.strftime("%H:%M UTC")


def incident_payload(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "service": incident.service,
        "status": incident.status,
        "runbook": incident.runbook_id,
        "declared_at": incident.declared_at.isoformat(),
        "recovery_deadline": incident.recovery_deadline.isoformat(),
        "path": f"/incidents/{incident.id}",
    }


def page(incident: Incident, *, reason: str) -> tuple[str, str]:
    """Subject and text of a page: what broke, what to do first, how long there is."""
    subject = f"[{incident.severity}] INC-{incident.id} {incident.title} ({incident.service})"
    steps = "\n".join(f"  {s.position}. {s.title}" for s in incident.steps)
    text = (
        f"{reason}\n\n"
        f"INC-{incident.id} {incident.title}\n"
        f"Severity {incident.severity} on {incident.service}, runbook {incident.runbook_id}.\n"
        f"Recover by {_when(incident.recovery_deadline)} ({incident.recovery_slo_minutes} min recovery SLO).\n\n"
        f"First five minutes:\n{steps}\n"
    )
    return subject, text


def update_reminder(incident: Incident) -> tuple[str, str]:
    subject = f"Stakeholder update due: INC-{incident.id} {incident.title}"
    text = (
        f"A stakeholder update for INC-{incident.id} is due now (every {incident.update_every_minutes} min "
        f'until recovery is stable). Post it: missionctl incident update {incident.id} "..."\n'
    )
    return subject, text


def stakeholder_update(incident: Incident, *, message: str, author: str, posted_at: datetime) -> tuple[str, str]:
    subject = f"[{incident.status}] {incident.title} ({incident.service})"
    text = f"{message}\n\n— {author}, {posted_at.strftime('%Y-%m-%d %H:%M UTC')}. Status: {incident.status}.\n"
    return subject, text


def action_item_reminder(incident: Incident, *, title: str, due_at: datetime, overdue: bool) -> tuple[str, str]:
    state = "is overdue" if overdue else "is due tomorrow"
    subject = f"Action item {state}: {title}"
    text = (
        f"Your post-incident action item from INC-{incident.id} ({incident.title}) {state}: {title}\n"
        f"Due {due_at.strftime('%Y-%m-%d %H:%M UTC')}.\n"
    )
    return subject, text
