"""iCalendar export of on-call shifts: one event per shift with a person, in UTC, with stable UIDs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from icalendar import Calendar, Event

from missionctl.oncall.resolve import (
    FIRST_LOOKAHEAD,
    MAX_RANGE,
    OVERRIDE,
    Shift,
    check_range,
    require_utc,
    shifts,
)
from missionctl.oncall.schemas import ScheduleSpec

PRODID = "-//Mission Control//missionctl on-call//EN"


def shift_uid(schedule: ScheduleSpec, person: str, start: datetime) -> str:
    """Stable UID of a shift: the same schedule, person and start always give the same UID."""
    return f"{schedule.id}-{person}-{require_utc(start, 'start'):%Y%m%dT%H%M%SZ}@missionctl"


def _event(schedule: ScheduleSpec, shift: Shift, person: str, generated_at: datetime) -> Event:
    event = Event()
    event.add("uid", shift_uid(schedule, person, shift.start))
    event.add("dtstamp", generated_at)
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", f"On call: {person} ({schedule.name})")
    origin = "override" if shift.source == OVERRIDE else f"layer {shift.source}"
    event.add("description", f"Schedule {schedule.id}: {origin}")
    return event


def _calendar(name: str, events: Iterable[Event]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for event in events:
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def overlapping_shifts(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The shifts overlapping [start, end), the first one from its real start (searched up to MAX_RANGE back).

    A feed whose window slides with the clock thus keeps the UID of the shift in progress at its start.
    """
    start, end = check_range(start, end)
    earliest, lookback = end - MAX_RANGE, FIRST_LOOKAHEAD
    while True:
        since = max(start - lookback, earliest)
        overlapping = [shift for shift in shifts(schedule, since, end) if shift.end > start]
        if overlapping[0].start > since or since == earliest:
            return overlapping
        lookback *= 2


def _staffed(schedule: ScheduleSpec, start: datetime, end: datetime) -> Iterator[tuple[str, Shift]]:
    """(person, shift) for every shift overlapping the range that has someone on call."""
    for shift in overlapping_shifts(schedule, start, end):
        if shift.person is not None:
            yield shift.person, shift


def schedule_calendar(
    schedule: ScheduleSpec,
    start: datetime,
    end: datetime,
    generated_at: datetime,
) -> bytes:
    """Everyone's shifts of one schedule in [start, end); `generated_at` becomes every event's DTSTAMP."""
    start, end = check_range(start, end)
    stamp = require_utc(generated_at, "generated_at")
    events = [_event(schedule, shift, person, stamp) for person, shift in _staffed(schedule, start, end)]
    return _calendar(f"On call: {schedule.name}", events)


def person_calendar(
    person: str, schedules: Iterable[ScheduleSpec], start: datetime, end: datetime, generated_at: datetime
) -> bytes:
    """One person's shifts in [start, end) across several schedules, in time order."""
    start, end = check_range(start, end)
    stamp = require_utc(generated_at, "generated_at")
    theirs: list[tuple[Shift, ScheduleSpec]] = []
    for schedule in schedules:
        theirs.extend((shift, schedule) for who, shift in _staffed(schedule, start, end) if who == person)
    theirs.sort(key=lambda pair: (pair[0].start, pair[1].id))
    return _calendar(f"On call: {person}", [_event(sch, shift, person, stamp) for shift, sch in theirs])
