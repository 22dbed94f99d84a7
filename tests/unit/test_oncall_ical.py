"""Tests of the iCalendar export: it parses back, matches the shifts, and keeps UIDs stable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar, Event

from missionctl.oncall import ScheduleSpec, shifts
from missionctl.oncall.ical import overlapping_shifts, person_calendar, schedule_calendar

START = datetime(2026, 3, 27, tzinfo=UTC)
END = datetime(2026, 4, 3, tzinfo=UTC)
GENERATED_AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def spec(
    schedule_id: str,
    name: str,
    participants: list[str],
    start: str = "2026-03-01",
    **extra: Any,
) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "id": schedule_id,
            "name": name,
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "name": "primary",
                    "rotation": {"kind": "daily", "start": start},
                    "participants": participants,
                    **extra,
                }
            ],
        }
    )


PRIMARY = spec("platform-primary", "Platform, primary", ["alice", "bob", "carol"])
OFFICE = spec(
    "office",
    "Office hours",
    ["alice", "dave"],
    restrict={"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"},
)


def events(data: bytes) -> list[Event]:
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    return calendar.events


def test_schedule_calendar_round_trips_one_event_per_shift() -> None:
    data = schedule_calendar(PRIMARY, START, END, GENERATED_AT)
    expected = overlapping_shifts(PRIMARY, START, END)
    parsed = events(data)
    assert len(parsed) == len(expected) == len(shifts(PRIMARY, START, END))
    for event, shift in zip(parsed, expected, strict=True):
        assert event.decoded("dtstart") == shift.start
        assert event.decoded("dtend") == shift.end
        assert event.decoded("dtstamp") == GENERATED_AT
        assert str(event["summary"]) == f"On call: {shift.person} (Platform, primary)"
        assert str(event["uid"]) == f"platform-primary-{shift.person}-{shift.start:%Y%m%dT%H%M%SZ}@missionctl"


def test_times_are_written_in_utc() -> None:
    data = schedule_calendar(PRIMARY, START, END, GENERATED_AT)
    assert b"DTSTART:20260329T070000Z" in data  # 09:00 CEST, the first hand-off after the change
    assert b"DTSTAMP:20260301T120000Z" in data
    assert b"TZID" not in data


def test_shift_in_progress_at_the_start_is_exported_from_its_real_start() -> None:
    first = events(schedule_calendar(PRIMARY, START, END, GENERATED_AT))[0]
    assert first.decoded("dtstart") == datetime(2026, 3, 26, 8, tzinfo=UTC)  # 09:00 CET, before START
    assert first.decoded("dtend") == datetime(2026, 3, 27, 8, tzinfo=UTC)


def test_sliding_feed_window_keeps_uids() -> None:
    uids = [
        [str(e["uid"]) for e in events(schedule_calendar(PRIMARY, START + shift, END + shift, GENERATED_AT))]
        for shift in (timedelta(0), timedelta(hours=1, seconds=7), timedelta(hours=7, microseconds=5))
    ]
    assert uids[0][0] == uids[1][0] == uids[2][0]  # the shift in progress at the window's start
    assert set(uids[0]) <= set(uids[1]) <= set(uids[2])


def test_lookback_is_bounded_by_the_range_limit() -> None:
    solo = spec("solo", "Solo", ["sam"], start="2020-01-01")  # one shift since 2020
    (only,) = overlapping_shifts(solo, START, END)
    assert (only.start, only.end) == (END - timedelta(days=400), END)
    recent = spec("recent", "Recent", ["sam"], start="2026-03-01")
    assert overlapping_shifts(recent, START, END)[0].start == datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_event_count_is_the_shifts_with_someone_on_call() -> None:
    timeline = shifts(OFFICE, START, END)
    staffed = [s for s in timeline if s.person is not None]
    assert len(staffed) < len(timeline)  # nights and the weekend have nobody
    assert len(events(schedule_calendar(OFFICE, START, END, GENERATED_AT))) == len(staffed)


def test_uids_are_stable_across_calls() -> None:
    first = schedule_calendar(PRIMARY, START, END, GENERATED_AT)
    later = schedule_calendar(PRIMARY, START, END, GENERATED_AT + timedelta(days=3))
    assert [str(e["uid"]) for e in events(first)] == [str(e["uid"]) for e in events(later)]
    assert first == schedule_calendar(PRIMARY, START, END, GENERATED_AT)
    assert len({str(e["uid"]) for e in events(first)}) == len(events(first))


def test_person_calendar_collects_one_persons_shifts_across_schedules() -> None:
    data = person_calendar("alice", [PRIMARY, OFFICE], START, END, GENERATED_AT)
    parsed = events(data)
    expected = [
        (shift.start, schedule.name)
        for schedule in (PRIMARY, OFFICE)
        for shift in overlapping_shifts(schedule, START, END)
        if shift.person == "alice"
    ]
    assert [(e.decoded("dtstart"), str(e["summary"])) for e in parsed] == [
        (start, f"On call: alice ({name})") for start, name in sorted(expected)
    ]
    assert {str(e["uid"]).split("-alice-")[0] for e in parsed} == {"platform-primary", "office"}


def test_person_without_shifts_gets_an_empty_calendar() -> None:
    assert events(person_calendar("nobody", [PRIMARY], START, END, GENERATED_AT)) == []


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="generated_at must be timezone-aware"):
        schedule_calendar(PRIMARY, START, END, datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        person_calendar("alice", [PRIMARY], datetime(2026, 3, 1), END, GENERATED_AT)
