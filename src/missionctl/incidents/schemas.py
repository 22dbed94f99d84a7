"""API shapes of the incident domain, separate from the tables; read models carry live clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from missionctl.escalation.policy import engagement
from missionctl.escalation.schemas import EngagementRead, EscalationRead, PageRead
from missionctl.incidents import models
from missionctl.incidents.lifecycle import (
    ActionItemStatus,
    IncidentRole,
    Status,
    StepStatus,
    countdown,
)
from missionctl.runbooks.schemas import Severity

Text = Annotated[str, Field(min_length=1, max_length=10_000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IncidentCreate(_In):
    runbook: Annotated[str, Field(pattern=r"^RB-\d{3,}$", examples=["RB-001"])]
    severity: Severity | None = Field(default=None, description="Defaults to the runbook's default")
    service: Name
    title: Annotated[str, Field(min_length=1, max_length=300)]
    commander: Name | None = Field(default=None, description="Incident owner; defaults to the caller")


class IncidentPatch(_In):
    severity: Severity | None = None
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None


class TransitionRequest(_In):
    to: Status
    note: Text | None = None


class StepChange(_In):
    status: StepStatus
    note: Text | None = None


class UpdateCreate(_In):
    message: Text


class RoleAssign(_In):
    assignee: Name


class ActionItemCreate(_In):
    title: Annotated[str, Field(min_length=1, max_length=500)]
    assignee: Name
    due_at: AwareDatetime


class ActionItemChange(_In):
    status: ActionItemStatus


class ResolveRequest(_In):
    confirmed_by: Name | None = Field(default=None, description="Who confirmed recovery; defaults to caller")
    evidence: Text


class MessageCreate(_In):
    body: Text


class PostmortemEdit(_In):
    markdown: Annotated[str, Field(min_length=1, max_length=200_000)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StepRead(_Out):
    position: int
    title: str
    detail: str | None
    action: str | None
    status: StepStatus
    completed_by: str | None
    completed_at: datetime | None
    note: str | None


class RoleRead(_Out):
    role: IncidentRole
    assignee: str
    assigned_by: str
    assigned_at: datetime


class UpdateRead(_Out):
    id: int
    author: str
    posted_at: datetime
    status: Status
    message: str


class ActionItemRead(_Out):
    id: int
    title: str
    assignee: str
    due_at: datetime
    status: ActionItemStatus
    created_by: str
    created_at: datetime
    completed_at: datetime | None


class MessageRead(_Out):
    id: int
    author: str
    posted_at: datetime
    body: str


class TimelineRead(_Out):
    id: int
    at: datetime
    actor: str
    kind: str
    summary: str
    data: dict[str, Any]


class ClockRead(BaseModel):
    deadline: datetime
    seconds_left: int
    state: str


class FirstResponseRead(ClockRead):
    within_minutes: int
    completed_at: datetime | None


class RecoverySLORead(ClockRead):
    minutes: int


class StakeholderCadenceRead(BaseModel):
    every_minutes: int
    next_update_due_at: datetime | None
    overdue: bool
    last_update_at: datetime | None


class RecoveryConfirmationRead(BaseModel):
    confirmed_by: str
    evidence: str
    resolved_by: str
    resolved_at: datetime


class IncidentSummary(_Out):
    id: int
    title: str
    service: str
    severity: Severity
    status: Status
    runbook_id: str
    declared_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    recovery_deadline: datetime
    commander: str | None = None
    recovery_seconds_left: int | None = None

    @classmethod
    def build(cls, incident: models.Incident, *, now: datetime) -> IncidentSummary:
        summary = cls.model_validate(incident)
        summary.commander = _commander(incident)
        if incident.resolved_at is None:
            summary.recovery_seconds_left = int((incident.recovery_deadline - now).total_seconds())
        return summary


Paging = tuple[list[PageRead], EscalationRead | None]


class IncidentRead(IncidentSummary):
    runbook_hash: str
    declared_by: str
    acknowledged_by: str | None
    mitigated_at: datetime | None
    closed_at: datetime | None
    first_response: FirstResponseRead
    recovery_slo: RecoverySLORead
    stakeholder_updates: StakeholderCadenceRead
    recovery_confirmation: RecoveryConfirmationRead | None
    postmortem_completed_at: datetime | None
    steps: list[StepRead]
    roles: list[RoleRead]
    updates: list[UpdateRead]
    action_items: list[ActionItemRead]
    messages: list[MessageRead]
    timeline: list[TimelineRead]
    engagement: EngagementRead
    escalation: EscalationRead | None = None
    pages: list[PageRead] = Field(default_factory=list)

    @classmethod
    def build(
        cls,
        incident: models.Incident,
        *,
        now: datetime,
        paging: tuple[list[PageRead], EscalationRead | None] = ([], None),
    ) -> IncidentRead:
        base = IncidentSummary.build(incident, now=now).model_dump()
        pages, escalation = paging
        eng = engagement(incident.declared_at, incident.first_page_sent_at, incident.acknowledged_at, now)
        return cls(
            **base,
            engagement=EngagementRead(**vars(eng)),
            escalation=escalation,
            pages=pages,
            runbook_hash=incident.runbook_hash,
            declared_by=incident.declared_by,
            acknowledged_by=incident.acknowledged_by,
            mitigated_at=incident.mitigated_at,
            closed_at=incident.closed_at,
            first_response=_first_response(incident, now),
            recovery_slo=_recovery(incident, now),
            stakeholder_updates=_cadence(incident, now),
            recovery_confirmation=_confirmation(incident),
            postmortem_completed_at=incident.postmortem_completed_at,
            steps=[StepRead.model_validate(s) for s in incident.steps],
            roles=[RoleRead.model_validate(r) for r in incident.roles],
            updates=[UpdateRead.model_validate(u) for u in incident.updates],
            action_items=[ActionItemRead.model_validate(a) for a in incident.action_items],
            messages=[MessageRead.model_validate(m) for m in incident.messages],
            timeline=[TimelineRead.model_validate(t) for t in incident.timeline],
        )


class PostmortemRead(BaseModel):
    incident_id: int
    markdown: str
    draft: bool = Field(description="True while generated from the timeline and never edited")
    completed_at: datetime | None
    completed_by: str | None


def _commander(incident: models.Incident) -> str | None:
    return next((r.assignee for r in incident.roles if r.role == IncidentRole.COMMANDER), None)


def _first_response(incident: models.Incident, now: datetime) -> FirstResponseRead:
    view = countdown(incident.first_response_due_at, now=now, finished_at=incident.first_response_completed_at)
    if incident.first_response_completed_at is None and incident.resolved_at is not None:
        # Resolved with steps still open: the clock stopped at resolution, the checklist was never done.
        view = countdown(incident.first_response_due_at, now=incident.resolved_at, finished_at=None)
        view = type(view)(view.deadline, view.seconds_left, "incomplete")
    minutes = int((incident.first_response_due_at - incident.declared_at).total_seconds() // 60)
    return FirstResponseRead(
        deadline=view.deadline,
        seconds_left=view.seconds_left,
        state=view.state,
        within_minutes=minutes,
        completed_at=incident.first_response_completed_at,
    )


def _recovery(incident: models.Incident, now: datetime) -> RecoverySLORead:
    view = countdown(incident.recovery_deadline, now=now, finished_at=incident.resolved_at)
    return RecoverySLORead(
        deadline=view.deadline,
        seconds_left=view.seconds_left,
        state=view.state,
        minutes=incident.recovery_slo_minutes,
    )


def _cadence(incident: models.Incident, now: datetime) -> StakeholderCadenceRead:
    due = incident.next_update_due_at
    return StakeholderCadenceRead(
        every_minutes=incident.update_every_minutes,
        next_update_due_at=due,
        overdue=due is not None and now >= due,
        last_update_at=incident.updates[-1].posted_at if incident.updates else None,
    )


def _confirmation(incident: models.Incident) -> RecoveryConfirmationRead | None:
    if incident.resolved_at is None or incident.recovery_confirmed_by is None:
        return None
    return RecoveryConfirmationRead(
        confirmed_by=incident.recovery_confirmed_by,
        evidence=incident.recovery_evidence or "",
        resolved_by=incident.resolved_by or incident.recovery_confirmed_by,
        resolved_at=incident.resolved_at,
    )
