"""Tables of the status page: subscriptions by email or webhook, to one service or to all."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from missionctl.db import Base, UTCDateTime


class SubscriptionKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class StatusSubscription(Base):
    """A subscription from the public status page; it receives nothing until confirmed through its link.

    Only the SHA-256 of the confirmation token is stored; unsubscribe links are signed instead (see
    `links.py`), since every message needs one and the token itself is never kept.
    """

    __tablename__ = "status_subscriptions"
    __table_args__ = (Index("ix_status_subscriptions_service", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(2000))
    service: Mapped[str | None] = mapped_column(String(200))  # None: every service
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None
