"""The job table: every timer and every pending delivery is a row here, never a thread or a sleep."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
JobId = BigInteger().with_variant(Integer(), "sqlite")


class Job(Base):
    """A unit of work due at `run_at`. Done jobs are deleted in the transaction that did their work."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "run_at", "id"),)

    id: Mapped[int] = mapped_column(JobId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Work that must happen once (one escalation step, one delivery) carries a key; enqueueing it
    # again is a no-op, so a retried transaction or a second engine cannot double it.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
