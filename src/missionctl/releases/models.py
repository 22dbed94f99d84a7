"""Release tables: each deployment's health verdict and deploy freezes (rollbacks are action executions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class ReleaseVerdict(Base):
    """The health verdict of one deployment (the `deployments` row stays as CI reported it).

    `settles_at` is when the release has passed its probes long enough to count as healthy, fixed when it is
    recorded (the settle period in force then).
    """

    __tablename__ = "release_verdicts"
    __table_args__ = (Index("ix_release_verdicts_service_verdict", "service_id", "environment", "verdict"),)

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    settles_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class DeployFreeze(Base):
    """A freeze on deployments of one service: from an RB-001 incident (until it resolves) or set by hand."""

    __tablename__ = "deploy_freezes"
    __table_args__ = (Index("ix_deploy_freezes_service_lifted", "service_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until lifted (or its incident resolves)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(200))
