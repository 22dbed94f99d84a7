"""Tables of the signals domain: integration keys, the alerts they carried, and what could not be accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # No foreign key: deleting a service must not fail on its keys; events for a service that is gone
    # are refused at ingest with a clear error instead.
    service_id: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignalAlert(Base):
    """One alert as its source identifies it (fingerprint / dedup_key), with its latest state.

    `origin` says who may speak for it: `integration:<id>` or `detector:<name>`; the same dedup key from
    two integrations is two alerts.
    """

    __tablename__ = "signal_alerts"
    __table_args__ = (
        UniqueConstraint("origin", "dedup_key"),
        Index("ix_signal_alerts_incident_status", "incident_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # firing | acknowledged | resolved
    service_id: Mapped[str] = mapped_column(String(200))
    runbook_id: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(1024))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_count: Mapped[int] = mapped_column(Integer)


class SignalGroup(Base):
    """The open incident that alerts for one service and runbook join; its row is the lock for opening one."""

    __tablename__ = "signal_groups"

    service_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    runbook_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class DeadLetter(Base):
    """An inbound event that was refused (malformed or unroutable), kept verbatim so it can be replayed."""

    __tablename__ = "signal_dead_letters"
    __table_args__ = (Index("ix_signal_dead_letters_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))
    integration_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))  # invalid_payload | unroutable | unknown_service
    error: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    body_truncated: Mapped[bool] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # pending | replayed | discarded
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replayed_by: Mapped[str | None] = mapped_column(String(200))
    replay_result: Mapped[str | None] = mapped_column(Text)


class InboundRequestId(Base):
    """A `webhook-id` an integration's sender gave (Standard Webhooks), kept at least 24 hours: a repeat is a no-op."""

    __tablename__ = "inbound_request_ids"
    __table_args__ = (Index("ix_inbound_request_ids_seen_at", "seen_at"),)

    integration_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
