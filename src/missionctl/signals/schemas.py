"""API shapes for integrations (the key itself appears only in the creation response)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from missionctl.signals.integrations import IntegrationKind


class IntegrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IntegrationKind
    service: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)


class IntegrationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: IntegrationKind
    service_id: str
    name: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class IntegrationCreated(IntegrationRead):
    key: str = Field(description="The integration key; shown only in this response")
