"""The runbook file format: a pydantic model that forbids unknown keys, and its content hash."""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from missionctl.detectors.templates import DetectorTemplate

RUNBOOK_ID_PATTERN = r"^RB-\d{3,}$"
ACTION_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NonEmpty = Annotated[str, Field(min_length=1)]
ActionName = Annotated[str, Field(pattern=ACTION_NAME_PATTERN, description="Name of an automation action")]


def check_label_patterns(value: dict[str, str]) -> dict[str, str]:
    """A label → regular-expression mapping whose every pattern compiles (shared with alert routes)."""
    for label, pattern in value.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{label}: not a regular expression ({exc})") from None
    return value


class Trigger(_Strict):
    """When this runbook applies: prose for people, `detectors` for machines (filled by the signals work)."""

    summary: NonEmpty
    match: dict[NonEmpty, NonEmpty] = Field(
        default_factory=dict,
        description="Default alert routing: label name → regular expression (full match, case-insensitive); "
        "an alert whose labels all match opens this runbook",
    )
    detectors: list[DetectorTemplate] = Field(
        default_factory=list,
        description="Default detectors: what a detectors file runs for a service with `vars:`; "
        "${variable} placeholders are filled from those vars (${service} always)",
    )
    resolve_on_recovery: bool = Field(
        default=False,
        description="Resolve the incident when its last firing alert recovers (the recovery is the confirmation); "
        "off by default: resolving is a person's decision. Severities that need action items still do.",
    )

    @field_validator("match")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        return check_label_patterns(value)

    @field_validator("detectors")
    @classmethod
    def _unique_names(cls, value: list[DetectorTemplate]) -> list[DetectorTemplate]:
        names = [template.name for template in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"detector name {repeated[0]!r} is used twice")
        return value


class Step(_Strict):
    """One first-response action."""

    title: NonEmpty
    detail: str | None = None
    action: ActionName | None = None


class FirstResponse(_Strict):
    within_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    steps: Annotated[list[Step], Field(min_length=1)]


class TargetKind(StrEnum):
    ROLE = "role"
    TEAM = "team"
    SCHEDULE = "schedule"


class EscalationTarget(_Strict):
    """Who to pull in: a role from the ownership map or the incident, a team's on-call, or a schedule."""

    role: NonEmpty | None = None
    team: NonEmpty | None = None
    schedule: NonEmpty | None = None
    label: str | None = Field(default=None, description="How people say it, e.g. 'release owner'")

    @model_validator(mode="after")
    def _exactly_one(self) -> EscalationTarget:
        given = [k for k in ("role", "team", "schedule") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of role, team or schedule")
        return self

    @property
    def kind(self) -> TargetKind:
        for kind in TargetKind:
            if getattr(self, kind.value) is not None:
                return kind
        raise AssertionError("validated target has no kind")  # pragma: no cover

    @property
    def name(self) -> str:
        return str(getattr(self, self.kind.value))


class Escalation(_Strict):
    summary: NonEmpty
    after_minutes: Annotated[int, Field(ge=0)] = 0
    targets: Annotated[list[EscalationTarget], Field(min_length=1)]


class RecoverySLO(_Strict):
    summary: NonEmpty
    minutes: Annotated[int, Field(ge=1)]


class StakeholderUpdates(_Strict):
    every_minutes: Annotated[int, Field(ge=1)] = 30


class AutomationMode(StrEnum):
    AUTOMATIC = "automatic"
    APPROVAL = "approval"
    MANUAL = "manual"


class Automation(_Strict):
    """A promise of automation in prose, plus the machine-readable action that keeps it."""

    summary: NonEmpty
    action: ActionName
    mode: AutomationMode = AutomationMode.MANUAL
    when: dict[str, Any] = Field(default_factory=dict, description="Condition for automatic actions")
    schedule_minutes: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Run on a schedule every N minutes"
    )
    params: dict[str, Any] = Field(default_factory=dict)


class LinkKind(StrEnum):
    DASHBOARD = "dashboard"
    DOC = "doc"
    OTHER = "other"


class Link(_Strict):
    title: NonEmpty
    url: HttpUrl
    kind: LinkKind = LinkKind.OTHER


class Runbook(_Strict):
    """A structured playbook for one failure scenario."""

    id: Annotated[str, Field(pattern=RUNBOOK_ID_PATTERN, description="RB-NNN")]
    title: NonEmpty
    summary: NonEmpty
    services: list[NonEmpty] = Field(
        default_factory=lambda: ["*"], description="Service names it applies to; '*' for any"
    )
    default_severity: Severity = Severity.SEV2
    trigger: Trigger
    first_response: FirstResponse
    escalation: Escalation
    recovery_slo: RecoverySLO
    stakeholder_updates: StakeholderUpdates = StakeholderUpdates()
    automation: list[Automation] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)

    def applies_to(self, service: str) -> bool:
        return "*" in self.services or service in self.services

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form: the exact version an incident was opened with."""
        return hashlib.sha256(canonical_json(self).encode()).hexdigest()


def canonical_json(runbook: Runbook) -> str:
    return json.dumps(runbook.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use to validate runbook files."""
    schema = Runbook.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Mission Control runbook"
    return schema
