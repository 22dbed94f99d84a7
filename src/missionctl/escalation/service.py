"""Escalation use cases: page on declaration, climb the ladder, stop on ack, keep the clocks' promises.

Every function runs inside the caller's transaction; every timer it needs is a job row written in that
same transaction, and every job handler re-checks state first (the `generation` fence), so a late or
repeated job does nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from missionctl.actions import approvals, automation
from missionctl.catalog import ownership
from missionctl.engine import jobs
from missionctl.escalation import acklink, messages, reminders
from missionctl.escalation.models import EscalationState
from missionctl.escalation.policy import (
    ENGAGE_DEADLINE,
    EscalationStatus,
    Policy,
    Position,
    job_is_current,
    next_position,
    slo_checkpoints,
    step_due,
)
from missionctl.escalation.schemas import EscalationRead, PageRead
from missionctl.incidents import versions
from missionctl.incidents.lifecycle import Status, is_open
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.notifications import service as outbox
from missionctl.notifications.models import Purpose
from missionctl.signals import requestids

STEP = "escalation.step"
ACK_TIMEOUT = "escalation.ack_timeout"
RUNBOOK_ESCALATION = "escalation.runbook"
SLO = "incident.slo"
ENGAGE = "incident.engage_deadline"
ACK_LINK_TTL = timedelta(hours=24)
_STATE = cast(Table, EscalationState.__table__)
_INSERT_STATE = insert(_STATE)


def start(session: Session, *, incident: Incident, now: datetime) -> None:
    """On declaration: snapshot the service's policy, page level 1 now, and set every clock."""
    _set_clocks(session, incident, now)
    spec = ownership.policy_for_service(session, incident.service)
    if spec is None:
        note(
            session,
            incident,
            now,
            "escalation_missing",
            f"No escalation policy for service {incident.service!r}: nobody was paged by policy",
        )
        return
    state = EscalationState(
        incident_id=incident.id,
        policy_id=spec.id,
        policy=spec.model_dump(mode="json"),
        status=EscalationStatus.ACTIVE,
        level=0,
        loop=0,
        generation=1,
        started_at=now,
        updated_at=now,
    )
    _page_position(session, incident, state, Position(0, 0), now, reason="Incident declared")
    # Inserted after paging, as it then is, and not through the unit of work (whose flush of this one object
    # cost a declaration some 900 Python calls); a later read in this transaction loads it like any row.
    session.execute(_INSERT_STATE, [{column.key: getattr(state, column.key) for column in _STATE.columns}])


def _set_clocks(session: Session, incident: Incident, now: datetime) -> None:
    _enqueue(
        session,
        ENGAGE,
        incident.declared_at + ENGAGE_DEADLINE,
        {"incident_id": incident.id},
        f"engage:{incident.id}",
        now,
    )
    for kind, at in slo_checkpoints(incident.declared_at, incident.recovery_deadline):
        _enqueue(
            session,
            SLO,
            at,
            {
                "incident_id": incident.id,
                "checkpoint": kind,
                "deadline": incident.recovery_deadline.isoformat(),
            },
            f"slo:{incident.id}:{kind}:{incident.recovery_deadline.isoformat()}",
            now,
        )
    content = _runbook(session, incident)
    after = int(content["escalation"].get("after_minutes", 0))
    _enqueue(
        session,
        RUNBOOK_ESCALATION,
        incident.declared_at + timedelta(minutes=after),
        {"incident_id": incident.id},
        f"runbook-escalation:{incident.id}",
        now,
    )
    reminders.schedule_update_reminder(session, incident=incident, now=now)


def _enqueue(session: Session, kind: str, at: datetime, payload: dict[str, Any], key: str, now: datetime) -> None:
    jobs.enqueue(session, kind=kind, run_at=at, payload=payload, dedup_key=key, now=now)


def _runbook(session: Session, incident: Incident) -> dict[str, Any]:
    return versions.content(session, incident.runbook_hash)


def _page_position(
    session: Session,
    incident: Incident,
    state: EscalationState,
    position: Position,
    now: datetime,
    *,
    reason: str,
) -> None:
    """Page every target of one level, then queue the step past it."""
    policy = Policy.from_snapshot(state.policy)
    state.level, state.loop, state.updated_at = position.level, position.loop, now
    level = policy.levels[position.level]
    stage = f"g{state.generation}-l{position.loop}-{position.level}"
    paged = _page_targets(
        session,
        incident,
        level.targets,
        stage=stage,
        level=position.level + 1,
        now=now,
        reason=f"{reason}: you are on escalation level {position.level + 1}.",
    )
    round_note = f" (round {position.loop + 1})" if position.loop else ""
    note(
        session,
        incident,
        now,
        "escalation_paged",
        f"Paged level {position.level + 1}{round_note}: {', '.join(paged) or 'nobody to page'}",
        level=position.level + 1,
        loop=position.loop,
        people=paged,
        generation=state.generation,
    )
    state.next_step_at = step_due(policy, position, now)
    _enqueue(
        session,
        STEP,
        state.next_step_at,
        {"incident_id": incident.id, "generation": state.generation},
        f"step:{incident.id}:{stage}",
        now,
    )


def _page_targets(
    session: Session,
    incident: Incident,
    targets: Any,
    *,
    stage: str,
    level: int | None,
    now: datetime,
    reason: str,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    roles = {r.role: r.assignee for r in incident.roles}
    people: list[str] = []
    for target in targets:
        wanted = {k: v for k, v in dict(target).items() if k in ("person", "team", "schedule", "role")}
        found = ownership.resolve_target(
            session, target=wanted, service_id=incident.service, incident_roles=roles, at=now
        )
        for reason in found.notes:
            note(session, incident, now, "escalation_note", reason, target=wanted)
        people.extend(p for p in found.people if p not in people)
    for person in people:
        if person not in skip:
            page_person(session, incident=incident, person_id=person, stage=stage, level=level, now=now, reason=reason)
    return people


def page_person(
    session: Session,
    *,
    incident: Incident,
    person_id: str,
    stage: str,
    level: int | None,
    now: datetime,
    reason: str,
) -> int:
    """Queue a page on each of the person's notification rules; delayed rules stop if someone acknowledges."""
    plan = ownership.contact_plan(session, person_id)
    if not plan:
        note(
            session,
            incident,
            now,
            "escalation_note",
            f"{person_id} has no contact methods: cannot be paged",
            person=person_id,
        )
        return 0
    secret = outbox.server_secret(session, name="ack_link", now=now)
    token = acklink.make_token(secret, acklink.AckClaim(incident.id, person_id, now + ACK_LINK_TTL))
    subject, text = messages.page(incident, reason=reason)
    payload = {
        "type": "incident.page",
        "incident": messages.incident_payload(incident),
        "person": person_id,
        "level": level,
        "ack_path": f"/ack/{token}",
    }
    for method, after_minutes in plan:
        outbox.queue(
            session,
            outgoing=outbox.Outgoing(
                purpose=Purpose.PAGE,
                channel=method.kind,
                address=method.address,
                subject=subject,
                body=text,
                idempotency_key=f"page-{incident.id}-{stage}-{person_id}-{method.method_id}",
                incident_id=incident.id,
                person_id=person_id,
                contact_label=method.label or method.kind,
                payload=payload,
                escalation_level=level,
                unless_acknowledged=after_minutes > 0,
            ),
            due_at=now + timedelta(minutes=after_minutes),
            now=now,
        )
    return len(plan)


def _state(session: Session, incident_id: int) -> EscalationState | None:
    return session.get(EscalationState, incident_id, with_for_update=True)


def _incident(session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id, with_for_update=True)


def step(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: nobody acknowledged within the level's delay — page the next level, or say the ladder ran out."""
    state, incident = _state(session, payload["incident_id"]), _incident(session, payload["incident_id"])
    if state is None or incident is None or not _current(state, incident, payload):
        return
    following = next_position(Policy.from_snapshot(state.policy), Position(state.level, state.loop))
    if following is None:
        state.status, state.next_step_at, state.updated_at = EscalationStatus.EXHAUSTED, None, now
        note(
            session,
            incident,
            now,
            "escalation_exhausted",
            "Escalation exhausted: every level was paged and nobody acknowledged",
        )
        return
    _page_position(session, incident, state, following, now, reason="Not acknowledged in time")


def _current(state: EscalationState, incident: Incident, payload: dict[str, Any]) -> bool:
    return job_is_current(
        status=state.status,
        generation=state.generation,
        job_generation=int(payload["generation"]),
        incident_open=is_open(Status(incident.status)) and incident.acknowledged_at is None,
    )


def on_acknowledged(session: Session, *, incident: Incident, now: datetime) -> None:
    """Stop escalating for everyone at once; page again later only if the policy has an ack timeout."""
    outbox.on_acknowledged(session, incident_id=incident.id, now=now)
    state = _state(session, incident.id)
    if state is None or state.status != EscalationStatus.ACTIVE:
        return
    state.status, state.generation, state.next_step_at, state.updated_at = (
        EscalationStatus.ACKNOWLEDGED,
        state.generation + 1,
        None,
        now,
    )
    timeout = Policy.from_snapshot(state.policy).ack_timeout_minutes
    if timeout:
        _enqueue(
            session,
            ACK_TIMEOUT,
            now + timedelta(minutes=timeout),
            {"incident_id": incident.id, "generation": state.generation},
            f"ack-timeout:{incident.id}:g{state.generation}",
            now,
        )


def ack_timeout(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: acknowledged but still not resolved after the policy's ack timeout — start paging again."""
    state, incident = _state(session, payload["incident_id"]), _incident(session, payload["incident_id"])
    if state is None or incident is None or not is_open(Status(incident.status)):
        return
    if state.status != EscalationStatus.ACKNOWLEDGED or state.generation != int(payload["generation"]):
        return
    state.status, state.generation = EscalationStatus.ACTIVE, state.generation + 1
    _page_position(
        session,
        incident,
        state,
        Position(0, 0),
        now,
        reason="Acknowledged but not resolved within the policy's acknowledgement timeout",
    )


def on_resolved(session: Session, *, incident: Incident, now: datetime) -> None:
    """Recovery confirmed: no more pages of any kind for this incident."""
    outbox.cancel_pending_pages(session, incident_id=incident.id, only_unless_acknowledged=False)
    state = _state(session, incident.id)
    if state is not None and state.status in (EscalationStatus.ACTIVE, EscalationStatus.ACKNOWLEDGED):
        state.status, state.generation, state.next_step_at, state.updated_at = (
            EscalationStatus.STOPPED,
            state.generation + 1,
            None,
            now,
        )


def on_reopened(session: Session, *, incident: Incident, now: datetime) -> None:
    """A relapse pages from the top of the ladder again."""
    state = _state(session, incident.id)
    if state is None:
        return
    state.status, state.generation = EscalationStatus.ACTIVE, state.generation + 1
    _page_position(session, incident, state, Position(0, 0), now, reason="Incident reopened")
    reminders.schedule_update_reminder(session, incident=incident, now=now)


def runbook_escalation(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: the runbook's own escalation ("release owner + on-call backend engineer", "platform lead if
    sustained for 30 minutes") pages its targets, resolved through the ownership map."""
    incident = _incident(session, payload["incident_id"])
    if incident is None or not is_open(Status(incident.status)):
        return
    escalation = _runbook(session, incident)["escalation"]
    # Someone the policy paged moments ago is already on their way; a second page adds only noise.
    recent = outbox.paged_since(session, incident_id=incident.id, since=now - ENGAGE_DEADLINE)
    paged = _page_targets(
        session,
        incident,
        escalation["targets"],
        stage="runbook",
        level=None,
        now=now,
        reason=f"Runbook {incident.runbook_id}: {escalation['summary']}",
        skip=recent,
    )
    labels = ", ".join(t.get("label") or next(iter(t.values())) for t in escalation["targets"])
    note(
        session,
        incident,
        now,
        "runbook_escalation",
        f"{escalation['summary']} Paged {labels}: {', '.join(paged) or 'nobody found'}",
        people=paged,
    )


def slo_checkpoint(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: 50% and 80% of the recovery budget gone (a warning), or 100% (a breach that pages up)."""
    incident = _incident(session, payload["incident_id"])
    if incident is None or not is_open(Status(incident.status)):
        return
    if incident.recovery_deadline.isoformat() != payload["deadline"]:
        return  # the deadline moved since this timer was set
    left = int((incident.recovery_deadline - now).total_seconds() // 60)
    if payload["checkpoint"] != "slo_breach":
        percent = payload["checkpoint"].rsplit("_", 1)[1]
        note(
            session,
            incident,
            now,
            "slo_warning",
            f"{percent}% of the {incident.recovery_slo_minutes}-minute recovery budget used; {left} min left",
            percent=int(percent),
        )
        return
    note(
        session,
        incident,
        now,
        "slo_breached",
        f"Recovery SLO breached: not recovered within {incident.recovery_slo_minutes} minutes",
    )
    _page_next_level_for_breach(session, incident, now)


def _page_next_level_for_breach(session: Session, incident: Incident, now: datetime) -> None:
    state = _state(session, incident.id)
    if state is None:
        return
    policy = Policy.from_snapshot(state.policy)
    level = min(state.level + 1, len(policy.levels) - 1)
    _page_targets(
        session,
        incident,
        policy.levels[level].targets,
        stage=f"slo-breach-{level}",
        level=level + 1,
        now=now,
        reason="Recovery SLO breached: you are the next escalation level",
    )


def engage_deadline(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: five minutes after declaration, a page must have been delivered; if not, say so loudly."""
    incident = _incident(session, payload["incident_id"])
    if incident is None or incident.first_page_sent_at is not None or incident.acknowledged_at is not None:
        return
    note(session, incident, now, "engage_breach", "No page was delivered within 5 minutes of declaration")


HANDLERS = {
    STEP: step,
    ACK_TIMEOUT: ack_timeout,
    RUNBOOK_ESCALATION: runbook_escalation,
    SLO: slo_checkpoint,
    ENGAGE: engage_deadline,
    reminders.UPDATE_DUE: reminders.update_reminder,
    reminders.ACTION_ITEM_DUE: reminders.action_item_reminder,
    approvals.EXPIRE: approvals.expire,
    automation.SCHEDULED: automation.scheduled,
    requestids.PRUNE: requestids.prune,
}


def paging_view(session: Session, *, incident_id: int) -> tuple[list[PageRead], EscalationRead | None]:
    """The pages sent for an incident and its escalation state, for the incident read model."""
    pages = [
        PageRead(
            person=n.person_id,
            channel=n.channel,
            contact=n.contact_label,
            level=n.escalation_level,
            status=n.status,
            due_at=n.due_at,
            sent_at=n.sent_at,
            acknowledged_at=n.acknowledged_at,
            last_error=n.last_error,
        )
        for n in outbox.for_incident(session, incident_id=incident_id, purpose=Purpose.PAGE)
    ]
    state = session.get(EscalationState, incident_id)
    return pages, EscalationRead.model_validate(state) if state is not None else None
