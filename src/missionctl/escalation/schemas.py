"""API shapes for pages, notifications and the escalation state shown on an incident."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int | None
    purpose: str
    person_id: str | None
    channel: str
    contact_label: str | None
    status: str
    attempts: int
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    escalation_level: int | None
    last_error: str | None
    subject: str
    body: str


class PageRead(BaseModel):
    """One page as responders see it: who, how, and what became of it."""

    model_config = ConfigDict(from_attributes=True)

    person: str | None
    channel: str
    contact: str | None
    level: int | None
    status: str
    due_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    last_error: str | None


class EscalationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    policy_id: str | None
    status: str
    level: int
    loop: int
    next_step_at: datetime | None
    started_at: datetime


class EngagementRead(BaseModel):
    """Time-to-engage: declared → first page delivered → first acknowledgement."""

    page_deadline: datetime
    page_deadline_state: str
    seconds_to_first_page: float | None
    seconds_to_acknowledge: float | None
