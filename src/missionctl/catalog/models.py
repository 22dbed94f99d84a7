"""Tables of the catalog: people, contact methods, teams, schedules, policies, services, subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from missionctl.db import Base, UTCDateTime

SLUG_LENGTH = 100


class Person(Base):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    time_zone: Mapped[str] = mapped_column(String(64))
    notification_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    contact_methods: Mapped[list[ContactMethod]] = relationship(
        back_populates="person", order_by="ContactMethod.position", cascade="all, delete-orphan"
    )


class ContactMethod(Base):
    """A way to reach a person; the integer id survives catalog reloads, so notifications may cite it."""

    __tablename__ = "contact_methods"
    __table_args__ = (UniqueConstraint("person_id", "method_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    method_id: Mapped[str] = mapped_column(String(SLUG_LENGTH))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(200))

    person: Mapped[Person] = relationship(back_populates="contact_methods")


class Schedule(Base):
    """An on-call schedule; `spec` is a `ScheduleSpec` as JSON, validated on the way in and out."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    repeat: Mapped[int] = mapped_column(Integer)
    ack_timeout_minutes: Mapped[int | None] = mapped_column(Integer)
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id"), index=True)
    escalation_policy_id: Mapped[str | None] = mapped_column(ForeignKey("escalation_policies.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", order_by="TeamMember.position", cascade="all, delete-orphan"
    )


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)

    team: Mapped[Team] = relationship(back_populates="members")


class Service(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(SLUG_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    tier: Mapped[int] = mapped_column(Integer)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    escalation_policy_id: Mapped[str | None] = mapped_column(ForeignKey("escalation_policies.id"), index=True)
    components: Mapped[list[str]] = mapped_column(JSON)
    runbooks: Mapped[list[str]] = mapped_column(JSON)
    roles: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Subscriber(Base):
    """A stakeholder who receives every posted update for a service, or for all of them ('*')."""

    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("service", "kind", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(SLUG_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
