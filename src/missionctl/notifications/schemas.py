"""API shapes for outbound dead letters and their replay."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DeadNotificationRead(BaseModel):
    """A notification that failed for good; the destination is shown without credentials."""

    id: int
    incident_id: int | None
    purpose: str
    person_id: str | None
    channel: str
    destination: str
    contact_label: str | None
    attempts: int
    created_at: datetime
    last_error: str | None
    webhook_id: str = Field(description="The webhook-id (or Message-ID) it went out with")
    subject: str


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="Created at or after")
    until: datetime | None = Field(default=None, description="Created before")
    ids: list[int] | None = Field(default=None, max_length=1000, description="Only these dead notifications")
    channel: str | None = Field(default=None, pattern="^(email|webhook|apprise|inbox)$")
    incident_id: int | None = None
    sample: int | None = Field(default=None, ge=1, le=1000, description="Replay a random sample of N of the matches")
    seed: int | None = Field(default=None, description="Seed for the sample: the same seed draws the same sample")
    target: str | None = Field(
        default=None, max_length=2000, description="Send to this http(s) URL instead (e.g. staging), as a marked replay"
    )
    dry_run: bool = False

    @field_validator("target")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise ValueError("target is not a URL") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("target must be an http(s) URL with a host")
        return value


class ReplayItem(BaseModel):
    original_id: int
    incident_id: int | None
    channel: str
    destination: str
    webhook_id: str
    target_override: bool
    notification_id: int | None = Field(description="The queued copy; null in a dry run")


class ReplayRead(BaseModel):
    dry_run: bool
    matched: int = Field(description="Dead notifications that matched the filters (before sampling)")
    queued: list[ReplayItem]
