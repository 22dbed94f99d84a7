"""Pure on-call resolution: who is on call at an instant, and the merged timeline of shifts over a range.

Nothing here reads the clock; every instant in and out is timezone-aware UTC. Wall-clock rules (hand-offs,
restriction windows) are turned into instants in the schedule's time zone by `wall_to_utc`: a wall time
in a DST gap becomes the first instant after the gap, an ambiguous one its first occurrence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from missionctl.oncall.schemas import Layer, Restriction, Rotation, RotationKind, ScheduleSpec

OVERRIDE = "override"
NOBODY = "none"
MAX_RANGE = timedelta(days=400)
# `next_handoffs` (and the iCalendar export, looking back) search this far first and double up to MAX_RANGE.
FIRST_LOOKAHEAD = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class Shift:
    """`person` (None: nobody) is on call in [start, end); `source` is a layer name, "override" or "none"."""

    person: str | None
    start: datetime
    end: datetime
    source: str


def require_utc(value: datetime, name: str = "instant") -> datetime:
    """Return an aware datetime as UTC; raise ValueError for a naive one."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive wall time names: its first occurrence if ambiguous, the gap's end if skipped."""
    wall = wall.replace(tzinfo=None, fold=0)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _gap_end(wall, zone)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """First instant whose wall time is past `wall`, a time in a gap (transitions fall on whole seconds)."""
    low = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp())  # before the transition
    high = math.ceil(wall.replace(tzinfo=zone, fold=0).timestamp())  # at or after it
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _local_wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None, fold=0)


# Rotations -------------------------------------------------------------------------------------------


def _anchor(rotation: Rotation) -> datetime:
    """Local wall time of the first hand-off."""
    first = rotation.start
    if rotation.kind is RotationKind.WEEKLY and rotation.handoff_weekday is not None:
        first += timedelta(days=(rotation.handoff_weekday.number - first.weekday()) % 7)
    return datetime.combine(first, rotation.handoff)


def _period(rotation: Rotation) -> timedelta:
    if rotation.kind is RotationKind.DAILY:
        return timedelta(days=1)
    if rotation.kind is RotationKind.WEEKLY:
        return timedelta(days=7)
    return timedelta(hours=rotation.shift_hours or 0)


def handoff_at(rotation: Rotation, zone: ZoneInfo, k: int) -> datetime:
    """The instant shift `k` (0 = the first) starts: anchor + k periods of wall-clock time."""
    return wall_to_utc(_anchor(rotation) + k * _period(rotation), zone)


def shift_index(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int:
    """Index of the shift containing `at`, or -1 before the first hand-off; never an empty shift."""
    estimate = (_local_wall(at, zone) - _anchor(rotation)) // _period(rotation)
    k = max(estimate, -1)
    while k >= 0 and handoff_at(rotation, zone, k) > at:
        k -= 1
    while handoff_at(rotation, zone, k + 1) <= at:
        k += 1
    return k


def _rotation_edges(rotation: Rotation, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    k = shift_index(rotation, zone, start) + 1
    while (edge := handoff_at(rotation, zone, k)) < end:
        yield edge
        k += 1


# Restrictions ----------------------------------------------------------------------------------------


def _windows(
    restriction: Restriction,
    zone: ZoneInfo,
    first: date,
    last: date,
) -> Iterator[tuple[datetime, datetime]]:
    """The restriction's [start, end) instants for windows starting on local days first..last."""
    days = {day.number for day in restriction.days}
    ends_next_day = timedelta(days=1 if restriction.crosses_midnight else 0)
    day = first
    while day <= last:
        if day.weekday() in days:
            opens = wall_to_utc(datetime.combine(day, restriction.from_), zone)
            closes = wall_to_utc(datetime.combine(day + ends_next_day, restriction.to), zone)
            yield opens, closes
        day += timedelta(days=1)


def restriction_covers(restriction: Restriction, zone: ZoneInfo, at: datetime) -> bool:
    today = _local_wall(at, zone).date()
    one_day = timedelta(days=1)
    nearby = _windows(restriction, zone, today - one_day, today + one_day)
    return any(opens <= at < closes for opens, closes in nearby)


def _restriction_edges(
    restriction: Restriction,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> Iterator[datetime]:
    first = _local_wall(start, zone).date() - timedelta(days=2)
    last = _local_wall(end, zone).date() + timedelta(days=1)
    for opens, closes in _windows(restriction, zone, first, last):
        yield opens
        yield closes


# Resolution ------------------------------------------------------------------------------------------


def layer_person(layer: Layer, zone: ZoneInfo, at: datetime) -> str | None:
    """Who this layer puts on call at `at`: None outside its restriction or before its first hand-off."""
    if layer.restrict is not None and not restriction_covers(layer.restrict, zone, at):
        return None
    k = shift_index(layer.rotation, zone, at)
    return None if k < 0 else layer.participants[k % len(layer.participants)]


def _decide(schedule: ScheduleSpec, at: datetime) -> tuple[str | None, str]:
    """(person, source) at a UTC instant: the last-listed override, else the top-most deciding layer."""
    for override in reversed(schedule.overrides):
        if override.start <= at < override.end:
            return override.person, OVERRIDE
    zone = schedule.zone
    for layer in reversed(schedule.layers):
        person = layer_person(layer, zone, at)
        if person is not None:
            return person, layer.name
    return None, NOBODY


def on_call_at(schedule: ScheduleSpec, at: datetime) -> str | None:
    """The person on call at `at` (aware), or None when no override or layer covers it."""
    return _decide(schedule, require_utc(at, "at"))[0]


def _change_points(schedule: ScheduleSpec, start: datetime, end: datetime) -> set[datetime]:
    """Every instant in [start, end) where the answer may change."""
    zone = schedule.zone
    points = {start}
    for layer in schedule.layers:
        points.update(_rotation_edges(layer.rotation, zone, start, end))
        if layer.restrict is not None:
            points.update(_restriction_edges(layer.restrict, zone, start, end))
    for override in schedule.overrides:
        points.update((override.start, override.end))
    return {point for point in points if start <= point < end}


def _merge(segments: list[tuple[datetime, str | None, str]], end: datetime) -> list[Shift]:
    """Shifts from sorted (start, person, source) segments; a run of one person keeps its first source."""
    merged: list[Shift] = []
    ends = [segment[0] for segment in segments[1:]] + [end]
    for (start, person, source), next_start in zip(segments, ends, strict=True):
        if merged and merged[-1].person == person:
            merged[-1] = Shift(person, merged[-1].start, next_start, merged[-1].source)
        else:
            merged.append(Shift(person, start, next_start, source))
    return merged


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Validate a [start, end) range of aware instants no longer than MAX_RANGE; return it in UTC."""
    start, end = require_utc(start, "start"), require_utc(end, "end")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    if end - start > MAX_RANGE:
        raise ValueError(f"range of {(end - start).days} days is longer than the {MAX_RANGE.days}-day limit")
    return start, end


def shifts(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The on-call timeline in [start, end): contiguous, each boundary a change of person (None = nobody)."""
    start, end = check_range(start, end)
    segments = [(point, *_decide(schedule, point)) for point in sorted(_change_points(schedule, start, end))]
    return _merge(segments, end)


def next_handoffs(schedule: ScheduleSpec, after: datetime, count: int) -> list[Shift]:
    """The next `count` shifts starting strictly after `after`, looking at most MAX_RANGE ahead.

    Each shift ends at the following change of person; the last one found may be cut at the horizon
    when nothing changes again within MAX_RANGE of `after`.
    """
    after = require_utc(after, "after")
    if count < 0:
        raise ValueError(f"count must be zero or more, got {count}")
    if count == 0:
        return []
    lookahead = FIRST_LOOKAHEAD
    while True:
        upcoming = shifts(schedule, after, after + lookahead)[1:]
        if len(upcoming) > count or lookahead >= MAX_RANGE:
            return upcoming[:count]
        lookahead = min(lookahead * 2, MAX_RANGE)
