"""API shapes for integrations (the key itself appears only in the creation response)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class DeadLetterSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime
    source: str
    integration_id: int | None
    reason: str = Field(description="invalid_payload, unroutable or unknown_service")
    error: str
    status: str = Field(description="pending, replayed or discarded")
    replayed_at: datetime | None
    replayed_by: str | None
    replay_result: str | None


class DeadLetterRead(DeadLetterSummary):
    details: dict[str, Any]
    body: str = Field(description="The payload exactly as it arrived")


class ReplayRead(BaseModel):
    dead_letter: DeadLetterSummary
    alerts: int
    incidents: list[int]


class BulkReplayRead(BaseModel):
    replayed: list[ReplayRead]
    still_failing: list[dict[str, Any]] = Field(description="`{id, code, message}` for each letter that still fails")
