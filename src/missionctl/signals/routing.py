"""Routing (pure): which service, runbook and severity an alert belongs to, and why.

Explicit rules are tried in file order and the first whose labels all match wins; a rule may leave the
runbook to the runbooks' own default matches (`trigger.match`). Every decision carries its reasons, so
`missionctl route test` can say exactly which rule matched and why others did not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

from missionctl.runbooks.schemas import Runbook, Severity, check_label_patterns

# The words alerting tools use, mapped to Mission Control severities (the runbook default otherwise).
SOURCE_SEVERITY: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "page": Severity.SEV1,
    "high": Severity.SEV2,
    "error": Severity.SEV2,
    "major": Severity.SEV2,
    "warning": Severity.SEV3,
    "minor": Severity.SEV3,
    "low": Severity.SEV4,
    "info": Severity.SEV4,
}


class Route(BaseModel):
    """One routing rule from the routes file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    match: dict[str, str] = Field(min_length=1, description="label → regular expression (full match)")
    service: str | None = Field(default=None, description="Service id; default: the alert's `service_label`")
    service_label: str = "service"
    runbook: str | None = Field(default=None, pattern=r"^RB-\d{3,}$", description="Default: runbook matches")
    severity: Severity | None = None

    @field_validator("match")
    @classmethod
    def _compile(cls, value: dict[str, str]) -> dict[str, str]:
        return check_label_patterns(value)


class RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: list[Route] = Field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    service: str
    runbook_id: str
    severity: Severity
    rule: str  # the route's name, or "runbook RB-00N default match"


@dataclass
class Routing:
    """The outcome: a decision, or None with the reasons nothing fit."""

    decision: Decision | None
    trace: list[str] = field(default_factory=list)


def _mismatch(match: Mapping[str, str], labels: Mapping[str, str]) -> str | None:
    """Why `labels` fail `match`, or None if every pattern fully matches its label."""
    for label, pattern in match.items():
        value = labels.get(label)
        if value is None:
            return f"no label {label!r}"
        if re.fullmatch(pattern, value) is None:
            return f"{label}={value!r} does not match {pattern!r}"
    return None


def route(
    labels: Mapping[str, str], *, rules: Sequence[Route], runbooks: Sequence[Runbook], source_severity: str | None
) -> Routing:
    """Route one alert by its labels."""
    trace: list[str] = []
    for rule in rules:
        why_not = _mismatch(rule.match, labels)
        if why_not is not None:
            trace.append(f"route {rule.name!r} skipped: {why_not}")
            continue
        trace.append(f"route {rule.name!r} matched: " + ", ".join(f"{k}~{v!r}" for k, v in rule.match.items()))
        return _decide(labels, rule, runbooks, source_severity, trace)
    return _decide(labels, None, runbooks, source_severity, trace)


def _decide(
    labels: Mapping[str, str],
    rule: Route | None,
    runbooks: Sequence[Runbook],
    source_severity: str | None,
    trace: list[str],
) -> Routing:
    service = (rule.service if rule else None) or labels.get(rule.service_label if rule else "service")
    if not service:
        trace.append("no service: give the alert a `service` label or a route with `service:`")
        return Routing(None, trace)
    runbook = _runbook(rule, runbooks, labels, service, trace)
    if runbook is None:
        return Routing(None, trace)
    severity = (rule.severity if rule else None) or SOURCE_SEVERITY.get((source_severity or "").lower())
    severity = severity or runbook.default_severity
    name = rule.name if rule else f"runbook {runbook.id} default match"
    trace.append(f"→ service {service}, runbook {runbook.id}, {severity}")
    return Routing(Decision(service, runbook.id, severity, name), trace)


def _runbook(
    rule: Route | None, runbooks: Sequence[Runbook], labels: Mapping[str, str], service: str, trace: list[str]
) -> Runbook | None:
    if rule is not None and rule.runbook is not None:
        chosen = next((r for r in runbooks if r.id == rule.runbook), None)
        if chosen is None:
            trace.append(f"route names unknown runbook {rule.runbook}")
        return chosen
    for runbook in sorted(runbooks, key=lambda r: r.id):
        if not runbook.trigger.match:
            continue
        why_not = _mismatch(runbook.trigger.match, labels) or (
            None if runbook.applies_to(service) else f"it does not cover service {service!r}"
        )
        if why_not is None:
            trace.append(f"runbook {runbook.id} default match: {runbook.trigger.match}")
            return runbook
        trace.append(f"runbook {runbook.id} skipped: {why_not}")
    trace.append("no runbook matches: add a route with `runbook:` or a `trigger.match` to a runbook")
    return None
