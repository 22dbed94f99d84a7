"""API shapes for releases: the ledger with verdicts, deploy freezes, and rollback / synthetic-check requests."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from missionctl.actions.schemas import ExecutionRead
from missionctl.releases.rules import Verdict


class ReleaseRead(BaseModel):
    """A release as CI reported it, with its verdict (None: an environment the service's probes do not watch)."""

    id: int
    service_id: str
    version: str
    artifact_digest: str
    environment: str
    deployed_by: str
    deployed_at: datetime
    url: str | None
    verdict: Verdict | None = None
    verdict_reason: str | None = None
    decided_at: datetime | None = None
    settles_at: datetime | None = None


class FreezeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    service_id: str
    reason: str
    starts_at: datetime
    ends_at: datetime | None
    incident_id: int | None
    created_by: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None


class FreezeStatus(BaseModel):
    """What a pipeline asks before it deploys: `frozen` and the freezes in force."""

    service: str
    frozen: bool
    freezes: list[FreezeRead]


class FreezeCreate(BaseModel):
    """A freeze set by hand: now (or from `starts_at`) for `minutes` or until `ends_at`, or until lifted."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now")
    ends_at: AwareDatetime | None = None
    minutes: int | None = Field(default=None, ge=1, le=525_600)
    incident_id: int | None = None

    @model_validator(mode="after")
    def _one_end(self) -> FreezeCreate:
        if self.ends_at is not None and self.minutes is not None:
            raise ValueError("give `minutes` or `ends_at`, not both")
        return self


class ReleasesView(BaseModel):
    """A service's ledger: releases with verdicts, the current and last known healthy release, freezes."""

    service: str
    environment: str
    current: ReleaseRead | None
    last_known_healthy: ReleaseRead | None
    frozen: bool
    freezes: list[FreezeRead]
    releases: list[ReleaseRead]


class IncidentReleaseView(BaseModel):
    """For an incident: the release running now against the last known healthy one, freezes, and its release actions."""

    incident_id: int
    service: str
    environment: str
    current: ReleaseRead | None
    last_known_healthy: ReleaseRead | None
    frozen: bool
    freezes: list[FreezeRead]
    runs: list[ExecutionRead] = Field(description="The incident's deploy.rollback and synthetic.check executions")


class RunCreate(BaseModel):
    """A rollback or synthetic checks asked for by a person: an action execution of the action framework."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=100)
    incident_id: int | None = None
    dry_run: bool = False
    to_deployment_id: int | None = Field(default=None, description="Rollback only; default: last known healthy")
