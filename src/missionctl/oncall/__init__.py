"""On-call schedules: the schedule format and the pure rules for who is on call when."""

from __future__ import annotations

from missionctl.oncall.resolve import Shift, next_handoffs, on_call_at, shifts
from missionctl.oncall.schemas import (
    Layer,
    Override,
    Restriction,
    Rotation,
    RotationKind,
    ScheduleSpec,
    Weekday,
)

__all__ = [
    "Layer",
    "Override",
    "Restriction",
    "Rotation",
    "RotationKind",
    "ScheduleSpec",
    "Shift",
    "Weekday",
    "next_handoffs",
    "on_call_at",
    "shifts",
]
