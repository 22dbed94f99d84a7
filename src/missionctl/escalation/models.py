"""Per-incident escalation state; `generation` is the fencing token every escalation job carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class EscalationState(Base):
    __tablename__ = "escalation_states"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    policy_id: Mapped[str | None] = mapped_column(String(200))
    # The policy as it was when escalation started: editing the policy never changes a running page.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)  # index of the level paged last
    loop: Mapped[int] = mapped_column(Integer)  # how many times the ladder has restarted
    generation: Mapped[int] = mapped_column(Integer)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
