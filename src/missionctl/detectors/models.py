"""Detector tables: when each configured detector is next due, and each alert instance's state machine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class DetectorSchedule(Base):
    """One configured detector: when it is due, and what its last evaluation said.

    `fingerprint` is the hash of the detector's definition: a changed definition starts it afresh.
    """

    __tablename__ = "detector_schedules"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class DetectorState(Base):
    """One alert instance of a detector (one series, as in Prometheus), with its state machine as JSON."""

    __tablename__ = "detector_states"

    detector: Mapped[str] = mapped_column(String(200), primary_key=True)
    series_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    firing: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
