"""Tables of the incident domain; an incident owns every row below it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from missionctl.db import Base, UTCDateTime


class RunbookVersion(Base):
    """An exact runbook as some incident was opened with it, keyed by content hash."""

    __tablename__ = "runbook_versions"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    runbook_id: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_declared", "status", "declared_at"),
        Index("ix_incidents_service_declared", "service", "declared_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    service: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    runbook_id: Mapped[str] = mapped_column(String(32), index=True)
    runbook_hash: Mapped[str] = mapped_column(ForeignKey("runbook_versions.content_hash"))

    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    declared_by: Mapped[str] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_page_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    first_response_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_met: Mapped[bool | None] = mapped_column()

    recovery_slo_minutes: Mapped[int] = mapped_column(Integer)
    recovery_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    recovery_slo_met: Mapped[bool | None] = mapped_column()

    update_every_minutes: Mapped[int] = mapped_column(Integer)
    next_update_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    recovery_confirmed_by: Mapped[str | None] = mapped_column(String(200))
    recovery_evidence: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    postmortem_markdown: Mapped[str | None] = mapped_column(Text)
    postmortem_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    postmortem_completed_by: Mapped[str | None] = mapped_column(String(200))

    steps: Mapped[list[ChecklistStep]] = relationship(
        back_populates="incident", order_by="ChecklistStep.position", cascade="all, delete-orphan"
    )
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="incident", order_by="RoleAssignment.role", cascade="all, delete-orphan"
    )
    updates: Mapped[list[StakeholderUpdate]] = relationship(
        back_populates="incident", order_by="StakeholderUpdate.id", cascade="all, delete-orphan"
    )
    action_items: Mapped[list[ActionItem]] = relationship(
        back_populates="incident", order_by="ActionItem.id", cascade="all, delete-orphan"
    )
    messages: Mapped[list[ChannelMessage]] = relationship(
        back_populates="incident", order_by="ChannelMessage.id", cascade="all, delete-orphan"
    )
    timeline: Mapped[list[TimelineEvent]] = relationship(
        back_populates="incident", order_by="TimelineEvent.id", cascade="all, delete-orphan"
    )


class ChecklistStep(Base):
    """A first-five-minutes step, copied from the runbook when the incident was declared."""

    __tablename__ = "checklist_steps"
    __table_args__ = (UniqueConstraint("incident_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    completed_by: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="steps")


class RoleAssignment(Base):
    """Who holds an incident role now; hand-overs are on the timeline."""

    __tablename__ = "role_assignments"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    assignee: Mapped[str] = mapped_column(String(200))
    assigned_by: Mapped[str] = mapped_column(String(200))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="roles")


class StakeholderUpdate(Base):
    __tablename__ = "stakeholder_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="updates")


class ActionItem(Base):
    """A post-incident follow-up with a named assignee and a due date."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    assignee: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="action_items")


class ChannelMessage(Base):
    """A note in the incident's own response channel."""

    __tablename__ = "channel_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="messages")


class TimelineEvent(Base):
    """Append-only record of everything that happened to an incident."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="timeline")
