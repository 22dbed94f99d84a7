"""Incident use cases. Each takes the caller's `Session` and `now`; the entry point owns the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from missionctl.actions import automation
from missionctl.db import inserting
from missionctl.errors import Conflict, NotFound
from missionctl.escalation import reminders
from missionctl.escalation import service as escalation
from missionctl.incidents import lifecycle, versions
from missionctl.incidents.lifecycle import ActionItemStatus, IncidentRole, Status, StepStatus, TransitionFacts
from missionctl.incidents.models import (
    ActionItem,
    ChannelMessage,
    ChecklistStep,
    Incident,
    RoleAssignment,
    RunbookVersion,
    StakeholderUpdate,
    TimelineEvent,
)
from missionctl.incidents.timeline import record_event
from missionctl.releases import hooks as releases
from missionctl.runbooks.loader import LoadedRunbook
from missionctl.runbooks.schemas import Severity

Owned = TypeVar("Owned", ChecklistStep, RoleAssignment, TimelineEvent)

_FULL = (
    selectinload(Incident.steps),
    selectinload(Incident.roles),
    selectinload(Incident.updates),
    selectinload(Incident.action_items),
    selectinload(Incident.messages),
    selectinload(Incident.timeline),
)


def declare(
    session: Session,
    *,
    runbook: LoadedRunbook,
    service: str,
    title: str,
    severity: Severity | None,
    commander: str,
    actor: str,
    now: datetime,
) -> Incident:
    """Open an incident from a runbook: copy its checklist, start its clocks, name its commander."""
    spec = runbook.runbook
    if not spec.applies_to(service):
        raise Conflict(
            f"runbook {spec.id} does not apply to service {service!r} (it covers: {', '.join(spec.services)})",
            code="runbook_not_for_service",
        )
    _remember_runbook_version(session, runbook, now=now)
    severity = severity or spec.default_severity
    cadence = lifecycle.update_cadence_minutes(spec.stakeholder_updates.every_minutes, severity)
    opened = {
        "title": title,
        "service": service,
        "severity": severity,
        "status": Status.DECLARED,
        "runbook_id": spec.id,
        "runbook_hash": runbook.content_hash,
        "declared_at": now,
        "declared_by": actor,
        "first_response_due_at": now + timedelta(minutes=spec.first_response.within_minutes),
        "recovery_slo_minutes": spec.recovery_slo.minutes,
        "recovery_deadline": now + timedelta(minutes=spec.recovery_slo.minutes),
        "update_every_minutes": cadence,
        "next_update_due_at": lifecycle.next_update_due(now, cadence),
    }
    # Inserted as it is, not through the unit of work: the incident and what it owns go in one statement per
    # table (INSERT ... RETURNING), each coming back loaded. A new incident owns nothing else yet;
    # saying so spares a lazy load per collection when it is read.
    incident: Incident = session.scalars(inserting(Incident), [opened]).one()
    for empty in ("updates", "action_items", "messages"):
        set_committed_value(incident, empty, [])
    steps = [
        {"position": i, "title": s.title, "detail": s.detail, "action": s.action, "status": StepStatus.PENDING}
        for i, s in enumerate(spec.first_response.steps, start=1)
    ]
    set_committed_value(incident, "steps", _insert_owned(session, incident, ChecklistStep, steps, "position"))
    commanding = {"role": IncidentRole.COMMANDER, "assignee": commander, "assigned_by": actor, "assigned_at": now}
    set_committed_value(incident, "roles", _insert_owned(session, incident, RoleAssignment, [commanding], "role"))
    opening = [
        _event(
            now,
            actor,
            "declared",
            f"{severity} declared from {spec.id} {spec.title}: {title}",
            runbook=spec.id,
            runbook_hash=runbook.content_hash,
            severity=severity,
            service=service,
        ),
        _event(now, actor, "channel_opened", "Response channel opened", commander=commander),
    ]
    set_committed_value(incident, "timeline", _insert_owned(session, incident, TimelineEvent, opening, "kind"))
    escalation.start(session, incident=incident, now=now)
    releases.on_declared(session, incident=incident, runbook=spec, now=now)  # RB-001: freeze deploys, size the blast
    automation.start_schedules(session, incident=incident, now=now)  # runbook `schedule_minutes` automation
    return incident


def _event(now: datetime, actor: str, kind: str, summary: str, **data: Any) -> dict[str, Any]:
    return {"at": now, "actor": actor, "kind": kind, "summary": summary, "data": data}


def _insert_owned(
    session: Session, incident: Incident, model: type[Owned], rows: list[dict[str, Any]], key: str
) -> list[Owned]:
    """Insert rows a stored incident owns in one statement (`db.inserting`: the objects come back loaded and in
    the session), in the order of `rows`; `key` tells them apart.

    The unit of work would insert them one statement each through the incident's cascade: for a declaration
    from an alert that was more than a quarter of its whole transaction.
    """
    values = [{**row, "incident_id": incident.id} for row in rows]
    inserted = {getattr(item, key): item for item in session.scalars(inserting(model), values)}
    return [inserted[row[key]] for row in rows]


def _remember_runbook_version(session: Session, runbook: LoadedRunbook, *, now: datetime) -> None:
    """Store the exact runbook content once per hash, so later edits never rewrite this incident."""
    if versions.known_stored(session, runbook.content_hash):
        return  # the common case, and a primary-key read is far cheaper than an insert that conflicts
    values = {
        "content_hash": runbook.content_hash,
        "runbook_id": runbook.runbook.id,
        "title": runbook.runbook.title,
        "content": runbook.runbook.model_dump(mode="json"),
        "first_seen_at": now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(RunbookVersion).values(**values).on_conflict_do_nothing())
    versions.storing(session, runbook.content_hash)


def get(session: Session, *, incident_id: int, for_update: bool = False) -> Incident:
    """Load one incident with everything it owns, or raise `incident_not_found`."""
    query: Select[Incident] = select(Incident).where(Incident.id == incident_id).options(*_FULL)
    if for_update:
        query = query.with_for_update(of=Incident)
    incident = session.scalars(query).one_or_none()
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}", code="incident_not_found")
    return incident


def list_incidents(
    session: Session,
    *,
    statuses: list[Status] | None = None,
    severity: Severity | None = None,
    service: str | None = None,
    runbook_id: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Incident]:
    """Newest first, filtered; page with `before_id` (the last id of the previous page)."""
    query = select(Incident).options(selectinload(Incident.roles)).order_by(Incident.id.desc()).limit(limit)
    if statuses:
        query = query.where(Incident.status.in_([str(s) for s in statuses]))
    if severity:
        query = query.where(Incident.severity == severity)
    if service:
        query = query.where(Incident.service == service)
    if runbook_id:
        query = query.where(Incident.runbook_id == runbook_id)
    if before_id is not None:
        query = query.where(Incident.id < before_id)
    return list(session.scalars(query))


def acknowledge(session: Session, *, incident_id: int, actor: str, now: datetime) -> Incident:
    """Record that a responder is on it; acknowledging again changes nothing."""
    incident = get(session, incident_id=incident_id, for_update=True)
    if incident.acknowledged_at is not None:
        return incident
    if not lifecycle.is_open(Status(incident.status)):
        raise Conflict(f"incident {incident.id} is {incident.status}; nothing to acknowledge", code="incident_not_open")
    incident.acknowledged_at = now
    incident.acknowledged_by = actor
    record_event(incident, now, actor, "acknowledged", f"Acknowledged by {actor}")
    escalation.on_acknowledged(session, incident=incident, now=now)
    return incident


def change(
    session: Session,
    *,
    incident_id: int,
    severity: Severity | None,
    title: str | None,
    actor: str,
    now: datetime,
) -> Incident:
    """Re-declare severity (which may shorten the update cadence) or retitle an open incident."""
    incident = get(session, incident_id=incident_id, for_update=True)
    _require_open(incident)
    if title is not None and title != incident.title:
        record_event(incident, now, actor, "retitled", f"Retitled to {title!r}", old=incident.title, new=title)
        incident.title = title
    if severity is not None and severity != incident.severity:
        record_event(
            incident,
            now,
            actor,
            "severity_changed",
            f"Severity {incident.severity} → {severity}",
            old=incident.severity,
            new=severity,
        )
        incident.severity = severity
        _reset_cadence(session, incident)
        reminders.schedule_update_reminder(session, incident=incident, now=now)
    return incident


def _reset_cadence(session: Session, incident: Incident) -> None:
    content = versions.content(session, incident.runbook_hash)
    every = int(content["stakeholder_updates"]["every_minutes"])
    incident.update_every_minutes = lifecycle.update_cadence_minutes(every, Severity(incident.severity))
    last = incident.updates[-1].posted_at if incident.updates else incident.declared_at
    incident.next_update_due_at = lifecycle.next_update_due(last, incident.update_every_minutes)


def transition(
    session: Session, *, incident_id: int, to: Status, note: str | None, actor: str, now: datetime
) -> Incident:
    """Move the lifecycle on; resolving goes through `resolve`, which takes a recovery confirmation."""
    incident = get(session, incident_id=incident_id, for_update=True)
    old = Status(incident.status)
    lifecycle.check_transition(old, to, _facts(incident, confirmed=False))
    _apply_status(incident, to, actor=actor, now=now, note=note)
    if old is Status.RESOLVED and to is Status.INVESTIGATING:
        escalation.on_reopened(session, incident=incident, now=now)
    return incident


def resolve(
    session: Session, *, incident_id: int, confirmed_by: str, evidence: str, actor: str, now: datetime
) -> Incident:
    """Resolve with a recovery confirmation; records whether the recovery SLO was met."""
    incident = get(session, incident_id=incident_id, for_update=True)
    lifecycle.check_transition(Status(incident.status), Status.RESOLVED, _facts(incident, confirmed=True))
    incident.recovery_confirmed_by = confirmed_by
    incident.recovery_evidence = evidence
    incident.resolved_by = actor
    _apply_status(incident, Status.RESOLVED, actor=actor, now=now, note=None)
    escalation.on_resolved(session, incident=incident, now=now)
    releases.on_resolved(session, incident=incident, now=now)  # lifts the deploy freeze the incident set
    return incident


def _facts(incident: Incident, *, confirmed: bool) -> TransitionFacts:
    return TransitionFacts(
        severity=Severity(incident.severity),
        has_recovery_confirmation=confirmed,
        action_item_count=len(incident.action_items),
        postmortem_complete=incident.postmortem_completed_at is not None,
    )


def _apply_status(incident: Incident, to: Status, *, actor: str, now: datetime, note: str | None) -> None:
    old = Status(incident.status)
    incident.status = to
    data: dict[str, Any] = {"from": old, "to": to, "note": note}
    if to is Status.MITIGATED:
        incident.mitigated_at = now
    elif to is Status.RESOLVED:
        incident.resolved_at = now
        incident.recovery_slo_met = lifecycle.deadline_met(incident.recovery_deadline, now)
        incident.next_update_due_at = None
        data |= {
            "recovery_slo_met": incident.recovery_slo_met,
            "confirmed_by": incident.recovery_confirmed_by,
            "evidence": incident.recovery_evidence,
        }
    elif to is Status.CLOSED:
        incident.closed_at = now
    elif old is Status.RESOLVED:  # reopened
        incident.resolved_at = None
        incident.recovery_slo_met = None
        incident.next_update_due_at = now
    summary = _status_summary(old, to, incident)
    record_event(incident, now, actor, "status_changed", summary + (f": {note}" if note else ""), **data)


def _status_summary(old: Status, to: Status, incident: Incident) -> str:
    if to is Status.RESOLVED:
        verdict = "met" if incident.recovery_slo_met else "breached"
        return f"Resolved; recovery SLO {verdict} (confirmed by {incident.recovery_confirmed_by})"
    if old is Status.RESOLVED and to is Status.INVESTIGATING:
        return "Reopened"
    return f"Status {old} → {to}"


def set_step(
    session: Session,
    *,
    incident_id: int,
    position: int,
    status: StepStatus,
    note: str | None,
    actor: str,
    now: datetime,
) -> Incident:
    """Mark a first-response step done or skipped (or back to pending); completing all stops the clock."""
    incident = get(session, incident_id=incident_id, for_update=True)
    _require_open(incident)
    step = next((s for s in incident.steps if s.position == position), None)
    if step is None:
        raise NotFound(
            f"incident {incident.id} has no step {position} (it has {len(incident.steps)})",
            code="step_not_found",
        )
    step.status = status
    step.note = note
    step.completed_by = None if status is StepStatus.PENDING else actor
    step.completed_at = None if status is StepStatus.PENDING else now
    record_event(
        incident,
        now,
        actor,
        f"step_{status}",
        f"Step {position} {status}: {step.title}",
        position=position,
        note=note,
    )
    _settle_first_response(incident, actor=actor, now=now)
    return incident


def _settle_first_response(incident: Incident, *, actor: str, now: datetime) -> None:
    all_done = all(s.status != StepStatus.PENDING for s in incident.steps)
    if all_done and incident.first_response_completed_at is None:
        incident.first_response_completed_at = now
        incident.first_response_met = lifecycle.deadline_met(incident.first_response_due_at, now)
        verdict = "within" if incident.first_response_met else "after"
        record_event(
            incident,
            now,
            actor,
            "first_response_completed",
            f"First-response checklist completed {verdict} its deadline",
            met=incident.first_response_met,
        )
    elif not all_done and incident.first_response_completed_at is not None:
        incident.first_response_completed_at = None
        incident.first_response_met = None


def post_update(session: Session, *, incident_id: int, message: str, actor: str, now: datetime) -> StakeholderUpdate:
    """Post a stakeholder update and restart the cadence clock."""
    incident = get(session, incident_id=incident_id, for_update=True)
    if incident.status == Status.CLOSED:
        raise Conflict(f"incident {incident.id} is closed", code="incident_closed")
    update = StakeholderUpdate(author=actor, posted_at=now, status=incident.status, message=message)
    incident.updates.append(update)
    if lifecycle.is_open(Status(incident.status)):
        incident.next_update_due_at = lifecycle.next_update_due(now, incident.update_every_minutes)
    record_event(incident, now, actor, "update_posted", f"Stakeholder update: {message}")
    session.flush()
    reminders.on_update_posted(session, incident=incident, update_id=update.id, message=message, author=actor, now=now)
    return update


def assign_role(
    session: Session, *, incident_id: int, role: IncidentRole, assignee: str, actor: str, now: datetime
) -> Incident:
    """Give a role to someone; a hand-over names who held it before."""
    incident = get(session, incident_id=incident_id, for_update=True)
    if incident.status == Status.CLOSED:
        raise Conflict(f"incident {incident.id} is closed", code="incident_closed")
    current = next((r for r in incident.roles if r.role == role), None)
    if current is not None and current.assignee == assignee:
        return incident
    previous = current.assignee if current else None
    if current is None:
        incident.roles.append(RoleAssignment(role=role, assignee=assignee, assigned_by=actor, assigned_at=now))
    else:
        current.assignee, current.assigned_by, current.assigned_at = assignee, actor, now
    summary = f"{role} handed over from {previous} to {assignee}" if previous else f"{assignee} is {role}"
    record_event(incident, now, actor, "role_assigned", summary, role=role, previous=previous, assignee=assignee)
    return incident


def add_action_item(
    session: Session,
    *,
    incident_id: int,
    title: str,
    assignee: str,
    due_at: datetime,
    actor: str,
    now: datetime,
) -> ActionItem:
    """Add a post-incident action item; each has a named assignee and a due date."""
    incident = get(session, incident_id=incident_id, for_update=True)
    if incident.status == Status.CLOSED:
        raise Conflict(f"incident {incident.id} is closed", code="incident_closed")
    item = ActionItem(
        title=title,
        assignee=assignee,
        due_at=due_at,
        status=ActionItemStatus.OPEN,
        created_by=actor,
        created_at=now,
    )
    incident.action_items.append(item)
    record_event(
        incident,
        now,
        actor,
        "action_item_added",
        f"Action item for {assignee}: {title}",
        assignee=assignee,
        due_at=due_at.isoformat(),
    )
    session.flush()
    reminders.on_action_item_added(session, item=item, now=now)
    return item


def set_action_item_status(
    session: Session, *, incident_id: int, item_id: int, status: ActionItemStatus, actor: str, now: datetime
) -> ActionItem:
    incident = get(session, incident_id=incident_id, for_update=True)
    item = next((a for a in incident.action_items if a.id == item_id), None)
    if item is None:
        raise NotFound(f"incident {incident.id} has no action item {item_id}", code="action_item_not_found")
    if item.status != status:
        item.status = status
        item.completed_at = now if status is ActionItemStatus.DONE else None
        record_event(
            incident,
            now,
            actor,
            "action_item_updated",
            f"Action item {status}: {item.title}",
            item_id=item.id,
            status=status,
        )
    return item


def post_message(session: Session, *, incident_id: int, body: str, actor: str, now: datetime) -> ChannelMessage:
    """Post a note in the incident's response channel."""
    incident = get(session, incident_id=incident_id)
    if incident.status == Status.CLOSED:
        raise Conflict(f"incident {incident.id} is closed; its channel is read-only", code="incident_closed")
    message = ChannelMessage(author=actor, posted_at=now, body=body)
    incident.messages.append(message)
    session.flush()
    return message


def _require_open(incident: Incident) -> None:
    if not lifecycle.is_open(Status(incident.status)):
        raise Conflict(f"incident {incident.id} is {incident.status}", code="incident_not_open")
