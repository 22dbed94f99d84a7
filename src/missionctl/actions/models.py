"""Action tables: every execution of an action (the audit record and its state), and circuit breakers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class ActionExecution(Base):
    """One request to run an action, from request through approval to its result.

    `lock_key` is set while the execution runs and `once_key` while it counts as "the once" for its
    incident: both are unique, so the database itself refuses a second holder (on SQLite and PostgreSQL).
    Inputs and output are stored with secrets masked.
    """

    __tablename__ = "action_executions"
    __table_args__ = (
        Index("ix_action_executions_status_requested", "status", "requested_at"),
        Index("ix_action_executions_incident", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    service: Mapped[str | None] = mapped_column(String(200))
    runbook_id: Mapped[str | None] = mapped_column(String(32))
    step_position: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)

    requested_by: Mapped[str] = mapped_column(String(200))
    triggered_by: Mapped[str] = mapped_column(String(300))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    declined_by: Mapped[str | None] = mapped_column(String(200))

    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    concurrency_key: Mapped[str] = mapped_column(String(300))
    lock_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    once_key: Mapped[str | None] = mapped_column(String(300), unique=True)


class ActionBreaker(Base):
    """The circuit breaker of one action name: failures in a row, and until when it refuses to run."""

    __tablename__ = "action_breakers"

    action: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
