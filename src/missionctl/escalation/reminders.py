"""Reminders that keep the escalation protocol's cadence: stakeholder updates and action items.

"Stakeholder updates run on a fixed cadence until service recovery is stable": the commander is
reminded when an update is due, and every posted update goes to the service's subscribers.
"Recovery confirmation includes post-incident action items and clear assignees": assignees are
reminded a day before and a day after the due date. Timers are job rows like every other clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from missionctl.catalog import ownership
from missionctl.engine import jobs
from missionctl.escalation import messages
from missionctl.escalation.policy import action_item_reminders
from missionctl.incidents.lifecycle import Status, is_open
from missionctl.incidents.models import ActionItem, Incident
from missionctl.incidents.timeline import note
from missionctl.notifications import service as outbox
from missionctl.notifications.models import Purpose
from missionctl.statuspage import service as statuspage

UPDATE_DUE = "incident.update_reminder"
ACTION_ITEM_DUE = "action_item.reminder"


def _enqueue(session: Session, kind: str, at: datetime, payload: dict[str, Any], key: str, now: datetime) -> None:
    jobs.enqueue(session, kind=kind, run_at=at, payload=payload, dedup_key=key, now=now)


def _incident(session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id, with_for_update=True)


def schedule_update_reminder(session: Session, *, incident: Incident, now: datetime) -> None:
    """Queue the reminder for the current `next_update_due_at` (the due time itself is the fence)."""
    due = incident.next_update_due_at
    if due is None:
        return
    _enqueue(
        session,
        UPDATE_DUE,
        due,
        {"incident_id": incident.id, "due": due.isoformat()},
        f"update-due:{incident.id}:{due.isoformat()}",
        now,
    )


def update_reminder(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: a stakeholder update is due and none was posted — remind the commander, mark it overdue."""
    incident = _incident(session, payload["incident_id"])
    if incident is None or not is_open(Status(incident.status)) or incident.next_update_due_at is None:
        return
    if incident.next_update_due_at.isoformat() != payload["due"]:
        return  # an update was posted (or the cadence changed) since
    commander = next((r.assignee for r in incident.roles if r.role == "commander"), None)
    note(
        session,
        incident,
        now,
        "update_overdue",
        f"Stakeholder update overdue; reminded {commander or 'nobody (no commander)'}",
    )
    if commander is None:
        return
    subject, text = messages.update_reminder(incident)
    _notify_person(
        session,
        incident=incident,
        person_id=commander,
        purpose=Purpose.UPDATE_REMINDER,
        subject=subject,
        text=text,
        key=f"update-due-{incident.id}-{payload['due']}",
        now=now,
    )


def _notify_person(
    session: Session,
    *,
    incident: Incident,
    person_id: str,
    purpose: Purpose,
    subject: str,
    text: str,
    key: str,
    now: datetime,
) -> None:
    for method, _after in ownership.contact_plan(session, person_id)[:1]:
        outbox.queue(
            session,
            outgoing=outbox.Outgoing(
                purpose=purpose,
                channel=method.kind,
                address=method.address,
                subject=subject,
                body=text,
                idempotency_key=f"{key}-{person_id}",
                incident_id=incident.id,
                person_id=person_id,
                contact_label=method.label or method.kind,
                payload={"type": f"incident.{purpose}", "incident": messages.incident_payload(incident)},
            ),
            due_at=now,
            now=now,
        )


def on_update_posted(
    session: Session, *, incident: Incident, update_id: int, message: str, author: str, now: datetime
) -> None:
    """Send the posted update to the service's stakeholder and status-page subscribers; re-arm the reminder."""
    subject, text = messages.stakeholder_update(incident, message=message, author=author, posted_at=now)
    for subscriber in ownership.subscribers_for(session, incident.service):
        outbox.queue(
            session,
            outgoing=outbox.Outgoing(
                purpose=Purpose.STAKEHOLDER_UPDATE,
                channel=subscriber.kind,
                address=subscriber.address,
                subject=subject,
                body=text,
                idempotency_key=f"update-{update_id}-sub-{subscriber.id}",
                incident_id=incident.id,
                contact_label=subscriber.name or subscriber.kind,
                payload={
                    "type": "incident.update",
                    "incident": messages.incident_payload(incident),
                    "update": {
                        "id": update_id,
                        "message": message,
                        "author": author,
                        "posted_at": now.isoformat(),
                    },
                },
            ),
            due_at=now,
            now=now,
        )
    statuspage.on_update_posted(session, incident=incident, update_id=update_id, message=message, now=now)
    schedule_update_reminder(session, incident=incident, now=now)


def on_action_item_added(session: Session, *, item: ActionItem, now: datetime) -> None:
    for kind, at in action_item_reminders(item.due_at, now):
        _enqueue(session, ACTION_ITEM_DUE, at, {"item_id": item.id, "kind": kind}, f"ai:{item.id}:{kind}", now)


def action_item_reminder(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: remind the assignee of an open action item before and after its due date."""
    item = session.get(ActionItem, payload["item_id"])
    if item is None or item.status != "open":
        return
    incident = item.incident
    overdue = payload["kind"] == "overdue"
    subject, text = messages.action_item_reminder(incident, title=item.title, due_at=item.due_at, overdue=overdue)
    note(
        session,
        incident,
        now,
        "action_item_reminder",
        f"Reminded {item.assignee}: action item {'overdue' if overdue else 'due tomorrow'}: {item.title}",
        item_id=item.id,
    )
    _notify_person(
        session,
        incident=incident,
        person_id=item.assignee,
        purpose=Purpose.ACTION_ITEM_REMINDER,
        subject=subject,
        text=text,
        key=f"ai-{item.id}-{payload['kind']}",
        now=now,
    )
