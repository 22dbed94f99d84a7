"""API shapes for deployments: what CI posts after a release, and what the ledger lists."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, field_validator

# OCI image-spec digest grammar: algorithm ":" encoded.
_DIGEST = re.compile(r"^(?P<algorithm>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?P<encoded>[a-zA-Z0-9=_-]+)$")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
DIGEST_EXAMPLE = "sha256:" + "0" * 64


def check_digest(value: str) -> str:
    """An OCI digest such as `sha256:<64 hex digits>`; sha256 and sha512 are checked for length and hex."""
    match = _DIGEST.match(value)
    if match is None:
        raise ValueError("expected an artifact digest such as sha256:<64 hex digits>")
    length = _HEX_LENGTHS.get(match["algorithm"])
    if length is not None and not re.fullmatch(f"[0-9a-f]{{{length}}}", match["encoded"]):
        raise ValueError(f"a {match['algorithm']} digest has {length} lowercase hex digits after the colon")
    return value


class DeploymentCreate(BaseModel):
    """One release as CI reports it."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=100, description="Service id from the catalog")
    version: str = Field(min_length=1, max_length=200, examples=["2.3.1"])
    artifact_digest: str = Field(max_length=200, examples=[DIGEST_EXAMPLE])
    environment: str = Field(min_length=1, max_length=64, examples=["production"])
    deployed_by: str = Field(min_length=1, max_length=200, description="Who released it (person or pipeline)")
    deployed_at: AwareDatetime | None = Field(default=None, description="When it went out; default: now")
    url: HttpUrl | None = Field(default=None, description="The CI run or release page")
    freeze_override_reason: str | None = Field(
        default=None, min_length=1, max_length=500, description="Deploy despite a deploy freeze (noted on its incident)"
    )

    @field_validator("artifact_digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        return check_digest(value)


class DeploymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    service_id: str
    version: str
    artifact_digest: str
    environment: str
    deployed_by: str
    deployed_at: datetime
    created_at: datetime
    url: str | None
