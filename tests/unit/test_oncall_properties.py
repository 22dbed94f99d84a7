"""Property-based tests of on-call resolution over generated schedules, ranges and time zones (incl. DST)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from missionctl.oncall import ScheduleSpec, Shift, Weekday, on_call_at, shifts

PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
# Each zone with its 2026 DST changes (spring forward, fall back), which ranges are drawn around.
DST_DAYS = {
    "Europe/Berlin": [date(2026, 3, 29), date(2026, 10, 25)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "Australia/Lord_Howe": [date(2026, 10, 4), date(2026, 4, 5)],  # 30-minute change
    "Asia/Kolkata": [],
    "UTC": [],
}
ZONES = list(DST_DAYS)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)

# Wall times that are skipped or repeated on some of those days (gaps and folds are 01:00-03:00 local).
DST_WALL_TIMES = [time(1), time(1, 30), time(1, 45), time(2), time(2, 15), time(2, 30), time(2, 45)]
wall_times = st.one_of(
    st.sampled_from(DST_WALL_TIMES),
    st.sampled_from([time(0), time(3), time(9), time(23, 30)]),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)


@dataclass(frozen=True)
class Scenario:
    schedule: ScheduleSpec
    start: datetime
    end: datetime


@st.composite
def range_starts(draw: st.DrawFn, zone: str) -> datetime:
    """Instants shortly before one of the zone's DST changes most of the time, anywhere in 2026 otherwise."""
    if DST_DAYS[zone] and draw(st.sampled_from(["near a change", "near a change", "anywhere"])) != "anywhere":
        day = datetime.combine(draw(st.sampled_from(DST_DAYS[zone])), time(), tzinfo=UTC) - timedelta(days=3)
    else:
        day = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 364)))
    return day + timedelta(minutes=draw(st.integers(0, 2 * 24 * 60)))


@st.composite
def rotations(draw: st.DrawFn, around: date) -> dict[str, Any]:
    kind = draw(st.sampled_from(["daily", "weekly", "custom"]))
    start = around + timedelta(days=draw(st.integers(-40, 5)))
    rotation: dict[str, Any] = {
        "kind": kind,
        "start": start.isoformat(),
        "handoff": draw(wall_times).isoformat(),
    }
    if kind == "weekly":
        rotation["handoff_weekday"] = draw(st.sampled_from(list(Weekday))).value
    if kind == "custom":
        rotation["shift_hours"] = draw(st.one_of(st.integers(1, 72), st.sampled_from([168, 336])))
    return rotation


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any]:
    days = draw(st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True))
    return {
        "days": [d.value for d in days],
        "from": draw(wall_times).isoformat(),
        "to": draw(wall_times).isoformat(),
    }


@st.composite
def layers(draw: st.DrawFn, around: date, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "rotation": draw(rotations(around)),
        "participants": draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4)),
    }
    if draw(st.booleans()):
        spec["restrict"] = draw(restrictions())
    return spec


@st.composite
def overrides(draw: st.DrawFn, start: datetime, length: timedelta) -> dict[str, Any]:
    begins = start + timedelta(minutes=draw(st.integers(-24 * 60, int(length.total_seconds() // 60))))
    ends = begins + timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
    person = draw(st.sampled_from(["ovr1", "ovr2", "alice"]))
    return {"person": person, "start": begins.isoformat(), "end": ends.isoformat()}


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    start = draw(range_starts(zone))
    length = timedelta(minutes=draw(st.integers(60, 10 * 24 * 60)))
    count = draw(st.integers(1, 3))
    spec = {
        "id": "generated",
        "name": "Generated",
        "time_zone": zone,
        "layers": [draw(layers(start.date(), f"layer-{i}")) for i in range(count)],
        "overrides": draw(st.lists(overrides(start, length), max_size=3)),
    }
    return Scenario(ScheduleSpec.model_validate(spec), start, start + length)


@st.composite
def daily_scenarios(draw: st.DrawFn) -> Scenario:
    """One unrestricted daily layer of 2-4 distinct people, no overrides, over 2-20 days."""
    zone = draw(st.sampled_from(ZONES))
    start = draw(range_starts(zone))
    rotation = {
        "kind": "daily",
        "start": (start.date() + timedelta(days=draw(st.integers(-30, 3)))).isoformat(),
    }
    rotation["handoff"] = draw(wall_times).isoformat()
    participants = draw(st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=4, unique=True))
    spec = {
        "id": "daily",
        "name": "Daily",
        "time_zone": zone,
        "layers": [{"name": "daily", "rotation": rotation, "participants": participants}],
    }
    length = timedelta(minutes=draw(st.integers(2 * 24 * 60, 20 * 24 * 60)))
    return Scenario(ScheduleSpec.model_validate(spec), start, start + length)


def person_at(timeline: list[Shift], at: datetime) -> str | None:
    (found,) = [shift for shift in timeline if shift.start <= at < shift.end]
    return found.person


def instants(data: st.DataObject, scenario: Scenario, count: int = 20) -> list[datetime]:
    span = int((scenario.end - scenario.start) / timedelta(microseconds=1))
    offsets = data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=count))
    return [scenario.start + timedelta(microseconds=offset) for offset in offsets]


# (a) ---------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios())
def test_shifts_cover_the_range_exactly(scenario: Scenario) -> None:
    timeline = shifts(scenario.schedule, scenario.start, scenario.end)
    assert timeline[0].start == scenario.start
    assert timeline[-1].end == scenario.end
    for shift, following in itertools.pairwise(timeline):
        assert shift.end == following.start  # no gap, no overlap
        assert shift.person != following.person  # every boundary is a change of person
    for shift in timeline:
        assert shift.start < shift.end
        assert shift.start.utcoffset() == timedelta(0) and shift.end.utcoffset() == timedelta(0)


# (b) ---------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_on_call_at_agrees_with_the_timeline(scenario: Scenario, data: st.DataObject) -> None:
    timeline = shifts(scenario.schedule, scenario.start, scenario.end)
    edges = [s.start for s in timeline] + [s.end - timedelta(microseconds=1) for s in timeline]
    for at in instants(data, scenario) + edges:
        assert on_call_at(scenario.schedule, at) == person_at(timeline, at), at


# (c) ---------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_last_listed_override_wins_inside_override_windows(scenario: Scenario, data: st.DataObject) -> None:
    listed = scenario.schedule.overrides
    timeline = shifts(scenario.schedule, scenario.start, scenario.end)
    for override in listed:
        span = int((override.end - override.start) / timedelta(microseconds=1))
        offset = data.draw(st.integers(0, span - 1))
        at = override.start + timedelta(microseconds=offset)
        expected = next(o.person for o in reversed(listed) if o.start <= at < o.end)
        assert on_call_at(scenario.schedule, at) == expected
        if scenario.start <= at < scenario.end:
            assert person_at(timeline, at) == expected


# (d) ---------------------------------------------------------------------------------------------------


def hands_off_at_the_wall_time(at: datetime, handoff: time, zone: ZoneInfo) -> bool:
    """At `handoff` (its first occurrence), or at the instant the clock jumps over it in a gap."""
    local = at.astimezone(zone)
    if local.time() == handoff:
        return local.fold == 0
    just_before = (at - timedelta(microseconds=1)).astimezone(zone)
    return just_before.date() == local.date() and just_before.time() < handoff < local.time()


@PROPERTY_SETTINGS
@given(daily_scenarios())
def test_daily_rotation_hands_off_once_a_local_day_at_the_wall_time(scenario: Scenario) -> None:
    zone = scenario.schedule.zone
    rotation = scenario.schedule.layers[0].rotation
    participants = scenario.schedule.layers[0].participants
    timeline = shifts(scenario.schedule, scenario.start, scenario.end)
    handoffs = [s for s in timeline[1:] if s.person is not None]
    days = [h.start.astimezone(zone).date() for h in handoffs]
    assert len(days) == len(set(days))  # never two hand-offs on one local day
    first_day = scenario.start.astimezone(zone).date() + timedelta(days=1)
    last_day = scenario.end.astimezone(zone).date() - timedelta(days=1)
    inside = {first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)}
    assert {d for d in inside if d >= rotation.start} <= set(days)  # ... and one on every day
    for handoff, day in zip(handoffs, days, strict=True):
        assert hands_off_at_the_wall_time(handoff.start, rotation.handoff, zone)
        assert handoff.person == participants[(day - rotation.start).days % len(participants)]


# (e) ---------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(daily_scenarios())
def test_daily_rotation_goes_to_consecutive_participants(scenario: Scenario) -> None:
    participants = scenario.schedule.layers[0].participants
    staffed = [s for s in shifts(scenario.schedule, scenario.start, scenario.end) if s.person is not None]
    for shift, following in itertools.pairwise(staffed):
        assert shift.person is not None and following.person is not None
        step = participants.index(following.person) - participants.index(shift.person)
        assert step % len(participants) == 1
        assert shift.end == following.start
    for shift in staffed[1:-1]:  # whole shifts: 24 hours give or take the DST change
        assert timedelta(hours=23) <= shift.end - shift.start <= timedelta(hours=25)
