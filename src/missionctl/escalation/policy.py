"""Pure escalation rules: where the ladder goes next, when the clocks fire, and whether a job still counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class EscalationStatus(StrEnum):
    ACTIVE = "active"  # paging up the ladder
    ACKNOWLEDGED = "acknowledged"  # someone is on it; no more steps (unless an ack timeout fires)
    EXHAUSTED = "exhausted"  # every level and repeat paged, nobody acknowledged
    STOPPED = "stopped"  # the incident was resolved


@dataclass(frozen=True)
class Level:
    escalate_after_minutes: int
    targets: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Policy:
    """An escalation policy as snapshotted onto an incident."""

    levels: tuple[Level, ...]
    repeat: int = 0
    ack_timeout_minutes: int | None = None

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Policy:
        levels = tuple(
            Level(int(level["escalate_after_minutes"]), tuple(dict(t) for t in level["targets"]))
            for level in data["levels"]
        )
        return cls(levels, int(data.get("repeat") or 0), data.get("ack_timeout_minutes"))


@dataclass(frozen=True)
class Position:
    level: int
    loop: int


def next_position(policy: Policy, current: Position) -> Position | None:
    """The level after `current`: up the ladder, then round again `repeat` times, then nothing."""
    if current.level + 1 < len(policy.levels):
        return Position(current.level + 1, current.loop)
    if current.loop < policy.repeat:
        return Position(0, current.loop + 1)
    return None


def step_due(policy: Policy, paged: Position, paged_at: datetime) -> datetime:
    """When to escalate past the level just paged."""
    return paged_at + timedelta(minutes=policy.levels[paged.level].escalate_after_minutes)


def job_is_current(*, status: str, generation: int, job_generation: int, incident_open: bool) -> bool:
    """An escalation job acts only if no ack, resolve or restart has fenced it off since it was queued."""
    return status == EscalationStatus.ACTIVE and generation == job_generation and incident_open


SLO_CHECKPOINTS: tuple[tuple[str, float], ...] = (
    ("slo_warning_50", 0.5),
    ("slo_warning_80", 0.8),
    ("slo_breach", 1.0),
)


def slo_checkpoints(declared_at: datetime, deadline: datetime) -> list[tuple[str, datetime]]:
    """Warnings at 50% and 80% of the recovery budget, and the breach at 100%."""
    budget = deadline - declared_at
    return [(kind, declared_at + budget * fraction) for kind, fraction in SLO_CHECKPOINTS]


ENGAGE_DEADLINE = timedelta(minutes=5)
ACTION_ITEM_NOTICE = timedelta(days=1)


def action_item_reminders(due_at: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """A reminder a day before the due date (if that is still ahead) and one a day after it."""
    before = due_at - ACTION_ITEM_NOTICE
    reminders = [("before", before)] if before > now else []
    return [*reminders, ("overdue", due_at + ACTION_ITEM_NOTICE)]


@dataclass(frozen=True)
class Engagement:
    """Time-to-engage: declaration → first page delivered → first acknowledgement."""

    page_deadline: datetime
    seconds_to_first_page: float | None
    seconds_to_acknowledge: float | None
    page_deadline_state: str  # "met", "missed", "running", "breached"


def engagement(
    declared_at: datetime, first_page_at: datetime | None, acknowledged_at: datetime | None, now: datetime
) -> Engagement:
    deadline = declared_at + ENGAGE_DEADLINE
    if first_page_at is not None:
        state = "met" if first_page_at <= deadline else "missed"
    else:
        state = "running" if now < deadline else "breached"
    return Engagement(
        page_deadline=deadline,
        seconds_to_first_page=(first_page_at - declared_at).total_seconds() if first_page_at else None,
        seconds_to_acknowledge=(acknowledged_at - declared_at).total_seconds() if acknowledged_at else None,
        page_deadline_state=state,
    )
