"""The deployments table: one row per release of a service to an environment, as CI reported it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class Deployment(Base):
    """One release; the latest per service and environment anchors after-release detectors."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_service_environment_deployed", "service_id", "environment", "deployed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key, as for integration keys: the ledger outlives a service removed from the catalog.
    service_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(200))
    artifact_digest: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(64))
    deployed_by: Mapped[str] = mapped_column(String(200))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    url: Mapped[str | None] = mapped_column(Text)
