"""The outbox: every message Mission Control sends is a row first, written with the decision to send it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED_TEMP = "failed_temp"  # will be retried
    FAILED_PERM = "failed_perm"  # dead-lettered: visible on the incident and in the API
    CANCELLED = "cancelled"  # no longer needed (e.g. a delayed rule after acknowledgement)


class Purpose(StrEnum):
    PAGE = "page"
    UPDATE_REMINDER = "update_reminder"
    STAKEHOLDER_UPDATE = "stakeholder_update"
    ACTION_ITEM_REMINDER = "action_item_reminder"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_incident", "incident_id", "id"),
        Index("ix_notifications_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    contact_label: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Stable across retries and crashes: the receiver's dedup key (webhook-id, Message-ID).
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    escalation_level: Mapped[int | None] = mapped_column(Integer)
    # Delayed notification rules ("SMS after 2 minutes if not acknowledged") are cancelled by an ack.
    unless_acknowledged: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class ServerSecret(Base):
    """Secrets the server generates for itself once (signing keys), shared by every process."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
