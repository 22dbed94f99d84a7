"""Pure incident rules: allowed transitions and their preconditions, clocks and update cadence.

Nothing here touches the database or reads the clock; callers pass `now` and the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from missionctl.errors import Conflict
from missionctl.runbooks.schemas import Severity


class Status(StrEnum):
    DECLARED = "declared"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = frozenset({Status.DECLARED, Status.INVESTIGATING, Status.MITIGATED})


class StepStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


class IncidentRole(StrEnum):
    COMMANDER = "commander"
    SCRIBE = "scribe"
    COMMUNICATIONS_LEAD = "communications_lead"


class ActionItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


# Every transition not listed is refused. `resolved → investigating` reopens a relapse;
# `closed` is final (a new incident is declared instead).
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DECLARED: frozenset({Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED}),
    Status.INVESTIGATING: frozenset({Status.MITIGATED, Status.RESOLVED}),
    Status.MITIGATED: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.INVESTIGATING, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

# Severities that may not be resolved without a post-incident action item.
ACTION_ITEMS_REQUIRED = frozenset({Severity.SEV1, Severity.SEV2})

# A severe incident's stakeholders hear at least this often, whatever the runbook says.
UPDATE_CADENCE_CAP_MINUTES: dict[Severity, int] = {Severity.SEV1: 15, Severity.SEV2: 30}


@dataclass(frozen=True)
class TransitionFacts:
    """What the preconditions of a transition depend on."""

    severity: Severity
    has_recovery_confirmation: bool = False
    action_item_count: int = 0
    postmortem_complete: bool = False


def check_transition(current: Status, target: Status, facts: TransitionFacts) -> None:
    """Raise `Conflict` with a stable code unless `current → target` is allowed now."""
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (closed is final)"
        raise Conflict(
            f"cannot move an incident from {current} to {target}; allowed from {current}: {allowed}",
            code="invalid_transition",
            details={"from": current, "to": target, "allowed": sorted(ALLOWED_TRANSITIONS[current])},
        )
    if target is Status.RESOLVED:
        _check_resolve(facts)
    if target is Status.CLOSED and not facts.postmortem_complete:
        raise Conflict(
            "cannot close: the postmortem is not marked complete",
            code="postmortem_incomplete",
        )


def _check_resolve(facts: TransitionFacts) -> None:
    if not facts.has_recovery_confirmation:
        raise Conflict(
            "cannot resolve without a recovery confirmation: say who confirmed recovery and the evidence",
            code="recovery_confirmation_required",
        )
    if facts.severity in ACTION_ITEMS_REQUIRED and facts.action_item_count == 0:
        raise Conflict(
            f"cannot resolve a {facts.severity} incident without at least one post-incident action item "
            "(each with an assignee and a due date)",
            code="action_items_required",
        )


def is_open(status: Status) -> bool:
    return status in OPEN_STATUSES


def update_cadence_minutes(runbook_every_minutes: int, severity: Severity) -> int:
    """How often stakeholders hear from us: the runbook's cadence, shortened for severe incidents."""
    cap = UPDATE_CADENCE_CAP_MINUTES.get(severity)
    return min(runbook_every_minutes, cap) if cap else runbook_every_minutes


def next_update_due(last_update_at: datetime, cadence_minutes: int) -> datetime:
    return last_update_at + timedelta(minutes=cadence_minutes)


def deadline_met(deadline: datetime, done_at: datetime) -> bool:
    """A deadline is met when the thing was done at or before it."""
    return done_at <= deadline


@dataclass(frozen=True)
class ClockView:
    """A countdown as shown to responders."""

    deadline: datetime
    seconds_left: int  # negative once past the deadline
    state: str  # "running", "breached", "met", "missed"


def countdown(deadline: datetime, *, now: datetime, finished_at: datetime | None) -> ClockView:
    """The state of a countdown at `now`, or as it stood when the work finished."""
    if finished_at is not None:
        met = deadline_met(deadline, finished_at)
        left = int((deadline - finished_at).total_seconds())
        return ClockView(deadline, left, "met" if met else "missed")
    left = int((deadline - now).total_seconds())
    return ClockView(deadline, left, "running" if left >= 0 else "breached")
