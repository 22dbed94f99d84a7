"""Example-based tests of on-call resolution: rotations, restrictions, overrides, layers, DST, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from missionctl.oncall import ScheduleSpec, Shift, Weekday, next_handoffs, on_call_at, shifts
from missionctl.oncall.resolve import wall_to_utc

PEOPLE = ["alice", "bob", "carol"]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def layer(
    name: str = "primary",
    participants: list[str] | None = None,
    restrict: dict[str, Any] | None = None,
    **rotation: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "rotation": rotation, "participants": participants or PEOPLE}
    if restrict is not None:
        spec["restrict"] = restrict
    return spec


def schedule(
    *layers: dict[str, Any],
    tz: str = "UTC",
    overrides: list[dict[str, Any]] | None = None,
) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "id": "primary",
            "name": "Primary",
            "time_zone": tz,
            "layers": list(layers),
            "overrides": overrides or [],
        }
    )


def daily(start: str, handoff: str = "09:00", **kw: Any) -> dict[str, Any]:
    return layer(kind="daily", start=start, handoff=handoff, **kw)


def handoffs(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    return [shift.start for shift in shifts(spec, start, end)[1:]]


# Rotations ---------------------------------------------------------------------------------------------


def test_daily_rotation_cycles_participants_at_the_handoff_time() -> None:
    spec = schedule(daily("2026-03-02"))
    assert on_call_at(spec, utc(2026, 3, 2, 8, 59, 59)) is None
    assert on_call_at(spec, utc(2026, 3, 2, 9)) == "alice"
    assert on_call_at(spec, utc(2026, 3, 3, 8, 59, 59)) == "alice"
    assert on_call_at(spec, utc(2026, 3, 3, 9)) == "bob"
    assert on_call_at(spec, utc(2026, 3, 4, 9)) == "carol"
    assert on_call_at(spec, utc(2026, 3, 5, 9)) == "alice"
    assert on_call_at(spec, utc(2026, 6, 10, 9)) == PEOPLE[100 % 3]  # shift 100


def test_handoff_defaults_to_nine_local() -> None:
    spec = schedule(layer(kind="daily", start="2026-03-02"), tz="Asia/Kolkata")
    assert spec.layers[0].rotation.handoff == time(9, 0)
    assert handoffs(spec, utc(2026, 3, 2), utc(2026, 3, 3)) == [utc(2026, 3, 2, 3, 30)]


def test_weekly_rotation_starts_on_the_first_handoff_weekday_on_or_after_start() -> None:
    spec = schedule(layer(kind="weekly", start="2026-03-04", handoff="10:00", handoff_weekday="mon"))
    assert on_call_at(spec, utc(2026, 3, 9, 9, 59)) is None
    assert on_call_at(spec, utc(2026, 3, 9, 10)) == "alice"
    assert on_call_at(spec, utc(2026, 3, 16, 9, 59)) == "alice"
    assert on_call_at(spec, utc(2026, 3, 16, 10)) == "bob"
    assert on_call_at(spec, utc(2026, 3, 23, 10)) == "carol"
    assert on_call_at(spec, utc(2026, 3, 30, 10)) == "alice"


def test_weekly_rotation_starting_on_its_handoff_weekday_starts_that_day() -> None:
    spec = schedule(layer(kind="weekly", start="2026-03-02", handoff_weekday="mon"))
    assert handoffs(spec, utc(2026, 3, 1), utc(2026, 3, 17)) == [
        utc(2026, 3, 2, 9),
        utc(2026, 3, 9, 9),
        utc(2026, 3, 16, 9),
    ]


def test_custom_rotation_hands_off_every_shift_hours() -> None:
    spec = schedule(layer(kind="custom", start="2026-03-02", handoff="08:00", shift_hours=12))
    assert on_call_at(spec, utc(2026, 3, 2, 7, 59)) is None
    assert on_call_at(spec, utc(2026, 3, 2, 8)) == "alice"
    assert on_call_at(spec, utc(2026, 3, 2, 20)) == "bob"
    assert on_call_at(spec, utc(2026, 3, 3, 8)) == "carol"
    assert on_call_at(spec, utc(2026, 3, 3, 20)) == "alice"


def test_custom_rotation_longer_than_a_day() -> None:
    rotation: dict[str, Any] = {"kind": "custom", "start": "2026-03-02", "handoff": "00:00"}
    spec = schedule(layer(participants=["a", "b"], shift_hours=36, **rotation))
    assert handoffs(spec, utc(2026, 3, 1), utc(2026, 3, 6)) == [
        utc(2026, 3, 2),
        utc(2026, 3, 3, 12),
        utc(2026, 3, 5),
    ]


def test_single_participant_is_one_shift() -> None:
    spec = schedule(daily("2026-03-02", participants=["solo"]))
    assert shifts(spec, utc(2026, 3, 3), utc(2026, 3, 10)) == [
        Shift("solo", utc(2026, 3, 3), utc(2026, 3, 10), "primary")
    ]


# Restrictions ------------------------------------------------------------------------------------------


BUSINESS_HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}


def test_restricted_layer_covers_only_its_window() -> None:
    spec = schedule(
        daily("2026-03-02", name="base", participants=["base"]),
        daily("2026-03-02", name="office", participants=["desk"], restrict=BUSINESS_HOURS),
    )
    assert on_call_at(spec, utc(2026, 3, 6, 8, 59)) == "base"  # Friday
    assert on_call_at(spec, utc(2026, 3, 6, 9)) == "desk"
    assert on_call_at(spec, utc(2026, 3, 6, 16, 59, 59)) == "desk"
    assert on_call_at(spec, utc(2026, 3, 6, 17)) == "base"
    assert on_call_at(spec, utc(2026, 3, 7, 12)) == "base"  # Saturday


def test_restriction_alone_leaves_nobody_outside_its_window() -> None:
    spec = schedule(daily("2026-03-02", restrict=BUSINESS_HOURS))
    assert on_call_at(spec, utc(2026, 3, 3, 12)) == "bob"
    assert on_call_at(spec, utc(2026, 3, 3, 18)) is None
    assert [(s.person, s.start, s.end) for s in shifts(spec, utc(2026, 3, 3), utc(2026, 3, 4))] == [
        (None, utc(2026, 3, 3), utc(2026, 3, 3, 9)),
        ("bob", utc(2026, 3, 3, 9), utc(2026, 3, 3, 17)),
        (None, utc(2026, 3, 3, 17), utc(2026, 3, 4)),
    ]


def test_restriction_window_crossing_midnight_starts_on_the_listed_day() -> None:
    night = {"days": ["fri"], "from": "22:00", "to": "06:00"}
    spec = schedule(daily("2026-03-02", participants=["owl"], restrict=night))
    assert on_call_at(spec, utc(2026, 3, 6, 21, 59)) is None  # Friday
    assert on_call_at(spec, utc(2026, 3, 6, 22)) == "owl"
    assert on_call_at(spec, utc(2026, 3, 7, 5, 59)) == "owl"  # Saturday morning, still Friday's window
    assert on_call_at(spec, utc(2026, 3, 7, 6)) is None
    assert on_call_at(spec, utc(2026, 3, 7, 23)) is None  # Saturday is not listed
    assert on_call_at(spec, utc(2026, 3, 6, 3)) is None  # Thursday's night is not listed


def test_restriction_from_equal_to_is_a_whole_day() -> None:
    whole_day = {"days": ["wed"], "from": "12:00", "to": "12:00"}
    spec = schedule(daily("2026-03-02", participants=["x"], restrict=whole_day))
    assert on_call_at(spec, utc(2026, 3, 4, 11, 59)) is None
    assert on_call_at(spec, utc(2026, 3, 4, 12)) == "x"
    assert on_call_at(spec, utc(2026, 3, 5, 11, 59)) == "x"
    assert on_call_at(spec, utc(2026, 3, 5, 12)) is None


def test_restriction_uses_local_weekday_and_time() -> None:
    spec = schedule(daily("2026-03-02", restrict=BUSINESS_HOURS), tz="America/New_York")
    assert on_call_at(spec, utc(2026, 3, 6, 21, 59)) == "bob"  # Friday 16:59 EST, shift 4
    assert on_call_at(spec, utc(2026, 3, 6, 22)) is None  # Friday 17:00 EST
    assert on_call_at(spec, utc(2026, 3, 7, 14)) is None  # Saturday 09:00 EST


# Overrides and layer order -----------------------------------------------------------------------------


def test_override_wins_over_layers_for_its_window_only() -> None:
    spec = schedule(
        daily("2026-03-02"),
        overrides=[{"person": "zoe", "start": "2026-03-03T12:00:00Z", "end": "2026-03-03T14:00:00Z"}],
    )
    assert on_call_at(spec, utc(2026, 3, 3, 11, 59)) == "bob"
    assert on_call_at(spec, utc(2026, 3, 3, 12)) == "zoe"
    assert on_call_at(spec, utc(2026, 3, 3, 14)) == "bob"
    assert shifts(spec, utc(2026, 3, 3), utc(2026, 3, 3, 16)) == [
        Shift("alice", utc(2026, 3, 3), utc(2026, 3, 3, 9), "primary"),
        Shift("bob", utc(2026, 3, 3, 9), utc(2026, 3, 3, 12), "primary"),
        Shift("zoe", utc(2026, 3, 3, 12), utc(2026, 3, 3, 14), "override"),
        Shift("bob", utc(2026, 3, 3, 14), utc(2026, 3, 3, 16), "primary"),
    ]


def test_override_applies_before_any_rotation_started() -> None:
    spec = schedule(
        daily("2026-04-01"),
        overrides=[{"person": "zoe", "start": "2026-03-01T00:00:00+01:00", "end": "2026-03-02T00:00:00Z"}],
    )
    assert spec.overrides[0].start == utc(2026, 2, 28, 23)
    assert on_call_at(spec, utc(2026, 3, 1, 12)) == "zoe"


def test_last_listed_override_wins_where_overrides_overlap() -> None:
    spec = schedule(
        daily("2026-03-02"),
        overrides=[
            {"person": "first", "start": "2026-03-03T10:00:00Z", "end": "2026-03-03T18:00:00Z"},
            {"person": "second", "start": "2026-03-03T12:00:00Z", "end": "2026-03-03T14:00:00Z"},
        ],
    )
    assert on_call_at(spec, utc(2026, 3, 3, 11)) == "first"
    assert on_call_at(spec, utc(2026, 3, 3, 13)) == "second"
    assert on_call_at(spec, utc(2026, 3, 3, 15)) == "first"
    reordered = spec.model_copy(update={"overrides": list(reversed(spec.overrides))})
    assert on_call_at(reordered, utc(2026, 3, 3, 13)) == "first"


def test_override_for_the_person_already_on_call_merges() -> None:
    spec = schedule(
        daily("2026-03-02"),
        overrides=[{"person": "bob", "start": "2026-03-03T12:00:00Z", "end": "2026-03-04T12:00:00Z"}],
    )
    timeline = shifts(spec, utc(2026, 3, 3, 10), utc(2026, 3, 4, 18))
    assert [(s.person, s.start, s.source) for s in timeline] == [
        ("bob", utc(2026, 3, 3, 10), "primary"),
        ("carol", utc(2026, 3, 4, 12), "primary"),
    ]


def test_top_layer_wins() -> None:
    spec = schedule(
        daily("2026-03-02", name="bottom", participants=["low"]),
        daily("2026-03-02", name="top", participants=["high"]),
    )
    assert on_call_at(spec, utc(2026, 3, 3, 12)) == "high"
    assert shifts(spec, utc(2026, 3, 3), utc(2026, 3, 4))[0].source == "top"


def test_lower_layer_decides_until_the_top_rotation_starts() -> None:
    spec = schedule(
        daily("2026-03-02", name="bottom", participants=["low"]),
        daily("2026-03-05", name="top", participants=["high"]),
    )
    assert on_call_at(spec, utc(2026, 3, 5, 8, 59)) == "low"
    assert on_call_at(spec, utc(2026, 3, 5, 9)) == "high"


# DST ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "dst_day", "before_utc", "after_utc", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), 23),
        ("Europe/Berlin", date(2026, 10, 25), utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), 25),
        ("America/New_York", date(2026, 3, 8), utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), 23),
        ("America/New_York", date(2026, 11, 1), utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), 25),
    ],
)
def test_daily_handoff_stays_at_nine_local_across_dst(
    tz: str, dst_day: date, before_utc: datetime, after_utc: datetime, hours: int
) -> None:
    spec = schedule(daily("2026-01-01"), tz=tz)
    zone = ZoneInfo(tz)
    got = handoffs(spec, before_utc - timedelta(hours=1), after_utc + timedelta(hours=1))
    assert got == [before_utc, after_utc]
    assert [h.astimezone(zone).time() for h in got] == [time(9), time(9)]
    assert after_utc.astimezone(zone).date() == dst_day
    shift = next(s for s in shifts(spec, before_utc, after_utc + timedelta(days=1)) if s.start == before_utc)
    assert shift.end - shift.start == timedelta(hours=hours)
    day_after = handoffs(spec, after_utc + timedelta(hours=1), after_utc + timedelta(days=1, hours=1))
    assert day_after == [after_utc + timedelta(days=1)]  # the new offset holds from then on


def test_custom_handoff_in_the_spring_gap_moves_to_right_after_it() -> None:
    twelve_hours = layer(kind="custom", start="2026-03-29", handoff="02:30", shift_hours=12)
    spec = schedule(twelve_hours, tz="Europe/Berlin")
    assert on_call_at(spec, utc(2026, 3, 29, 0, 59, 59)) is None  # 01:59:59 CET
    assert on_call_at(spec, utc(2026, 3, 29, 1)) == "alice"  # 03:00 CEST, first instant after the gap
    assert on_call_at(spec, utc(2026, 3, 29, 12, 29)) == "alice"
    assert on_call_at(spec, utc(2026, 3, 29, 12, 30)) == "bob"  # 14:30 CEST


def test_running_custom_rotation_through_the_spring_gap() -> None:
    twelve_hours = layer(kind="custom", start="2026-03-28", handoff="14:30", shift_hours=12)
    spec = schedule(twelve_hours, tz="Europe/Berlin")
    got = handoffs(spec, utc(2026, 3, 28), utc(2026, 3, 30, 1))
    assert got == [
        utc(2026, 3, 28, 13, 30),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 12, 30),
        utc(2026, 3, 30, 0, 30),
    ]


def test_new_york_gap_handoff_is_three_am_daylight_time() -> None:
    spec = schedule(daily("2026-03-01", handoff="02:30"), tz="America/New_York")
    assert utc(2026, 3, 8, 7) in handoffs(spec, utc(2026, 3, 7), utc(2026, 3, 9))  # 03:00 EDT


def test_fall_back_handoff_in_the_repeated_hour_uses_its_first_occurrence() -> None:
    spec = schedule(daily("2026-10-01", handoff="02:30"), tz="Europe/Berlin")
    got = handoffs(spec, utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]  # 02:30 CEST, then 02:30 CET
    assert got[1] - got[0] == timedelta(hours=25)


def test_one_hour_shift_inside_the_gap_is_empty_and_never_on_call() -> None:
    spec = schedule(
        layer(kind="custom", start="2026-03-29", handoff="00:00", shift_hours=1, participants=list("abcd")),
        tz="Europe/Berlin",
    )
    timeline = shifts(spec, utc(2026, 3, 28, 23), utc(2026, 3, 29, 2))
    # 00:00 a, 01:00 b, 02:00 c (does not exist: zero length), 03:00 CEST d
    assert [(s.person, s.start) for s in timeline] == [
        ("a", utc(2026, 3, 28, 23)),
        ("b", utc(2026, 3, 29, 0)),
        ("d", utc(2026, 3, 29, 1)),
    ]


def test_restriction_window_opening_in_the_gap_opens_after_it() -> None:
    spec = schedule(
        daily("2026-03-01", participants=["x"], restrict={"days": ["sun"], "from": "02:30", "to": "04:00"}),
        tz="Europe/Berlin",
    )
    assert on_call_at(spec, utc(2026, 3, 29, 0, 59)) is None
    assert on_call_at(spec, utc(2026, 3, 29, 1)) == "x"
    assert on_call_at(spec, utc(2026, 3, 29, 2)) is None  # 04:00 CEST


def test_restriction_window_closing_in_the_repeated_hour_closes_at_its_first_occurrence() -> None:
    spec = schedule(
        daily("2026-10-01", participants=["x"], restrict={"days": ["sun"], "from": "00:00", "to": "02:30"}),
        tz="Europe/Berlin",
    )
    assert on_call_at(spec, utc(2026, 10, 25, 0, 15)) == "x"  # 02:15 CEST
    assert on_call_at(spec, utc(2026, 10, 25, 0, 30)) is None  # 02:30 CEST
    assert on_call_at(spec, utc(2026, 10, 25, 1, 15)) is None  # 02:15 CET, the repeated hour


def test_wall_to_utc_gap_and_fold() -> None:
    berlin, lord_howe = ZoneInfo("Europe/Berlin"), ZoneInfo("Australia/Lord_Howe")
    assert wall_to_utc(datetime(2026, 3, 29, 2, 30), berlin) == utc(2026, 3, 29, 1)
    assert wall_to_utc(datetime(2026, 10, 25, 2, 30), berlin) == utc(2026, 10, 25, 0, 30)
    assert wall_to_utc(datetime(2026, 10, 4, 2, 10), lord_howe) == utc(2026, 10, 3, 15, 30)  # 02:30 LHDT


# Ranges and inputs -------------------------------------------------------------------------------------


def test_naive_instants_are_refused() -> None:
    spec = schedule(daily("2026-03-02"))
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call_at(spec, datetime(2026, 3, 3, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        shifts(spec, datetime(2026, 3, 3), utc(2026, 3, 4))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_handoffs(spec, datetime(2026, 3, 3), 1)


def test_other_offsets_are_converted_to_utc() -> None:
    spec = schedule(daily("2026-03-02"))
    plus_two = timezone(timedelta(hours=2))
    assert on_call_at(spec, datetime(2026, 3, 3, 11, tzinfo=plus_two)) == "bob"
    noon, two_pm = datetime(2026, 3, 3, 12, tzinfo=plus_two), datetime(2026, 3, 3, 14, tzinfo=plus_two)
    timeline = shifts(spec, noon, two_pm)
    assert timeline == [Shift("bob", utc(2026, 3, 3, 10), utc(2026, 3, 3, 12), "primary")]
    assert timeline[0].start.tzinfo is UTC


def test_range_is_bounded_and_ordered() -> None:
    spec = schedule(daily("2026-03-02"))
    assert shifts(spec, utc(2026, 1, 1), utc(2026, 1, 1) + timedelta(days=400))
    with pytest.raises(ValueError, match="400-day limit"):
        shifts(spec, utc(2026, 1, 1), utc(2026, 1, 1) + timedelta(days=400, seconds=1))
    with pytest.raises(ValueError, match="must be after start"):
        shifts(spec, utc(2026, 1, 2), utc(2026, 1, 1))


def test_next_handoffs() -> None:
    spec = schedule(daily("2026-03-02"))
    upcoming = next_handoffs(spec, utc(2026, 3, 3, 9), 3)  # a hand-off exactly at `after` is not "next"
    assert [(s.person, s.start, s.end) for s in upcoming] == [
        ("carol", utc(2026, 3, 4, 9), utc(2026, 3, 5, 9)),
        ("alice", utc(2026, 3, 5, 9), utc(2026, 3, 6, 9)),
        ("bob", utc(2026, 3, 6, 9), utc(2026, 3, 7, 9)),
    ]
    assert next_handoffs(spec, utc(2026, 3, 3), 0) == []
    with pytest.raises(ValueError, match="count"):
        next_handoffs(spec, utc(2026, 3, 3), -1)


def test_next_handoffs_looks_beyond_the_first_month() -> None:
    spec = schedule(layer(kind="custom", start="2026-03-02", handoff="00:00", shift_hours=24 * 14))
    upcoming = next_handoffs(spec, utc(2026, 3, 3), 4)
    assert [s.start for s in upcoming] == [
        utc(2026, 3, 16),
        utc(2026, 3, 30),
        utc(2026, 4, 13),
        utc(2026, 4, 27),
    ]


def test_next_handoffs_stops_at_the_horizon() -> None:
    spec = schedule(
        daily("2026-03-02", participants=["solo"]),
        overrides=[{"person": "zoe", "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}],
    )
    upcoming = next_handoffs(spec, utc(2026, 3, 3), 5)
    assert [(s.person, s.start) for s in upcoming] == [("zoe", utc(2026, 3, 10)), ("solo", utc(2026, 3, 11))]
    assert upcoming[-1].end == utc(2026, 3, 3) + timedelta(days=400)


# Validation --------------------------------------------------------------------------------------------


def errors(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.model_validate(data)
    return str(caught.value)


def base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "primary",
        "name": "Primary",
        "time_zone": "UTC",
        "layers": [daily("2026-03-02")],
    }
    return {**data, **changes}


def test_unknown_time_zone_is_named_with_suggestions() -> None:
    message = errors(base(time_zone="Europe/Berln"))
    assert "unknown time zone 'Europe/Berln'" in message
    assert "Europe/Berlin" in message
    assert "unknown time zone 'Mars/Olympus'" in errors(base(time_zone="Mars/Olympus"))
    assert "unknown time zone" in errors(base(time_zone="../etc/passwd"))
    assert "IANA" in errors(base(time_zone="localtime"))


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [
        ({"kind": "weekly", "start": "2026-03-02"}, "a weekly rotation needs handoff_weekday"),
        (
            {"kind": "daily", "start": "2026-03-02", "handoff_weekday": "mon"},
            "handoff_weekday is only for weekly",
        ),
        ({"kind": "custom", "start": "2026-03-02"}, "a custom rotation needs shift_hours"),
        (
            {"kind": "weekly", "start": "2026-03-02", "handoff_weekday": "mon", "shift_hours": 8},
            "shift_hours is only",
        ),
        ({"kind": "custom", "start": "2026-03-02", "shift_hours": 0}, "greater than or equal to 1"),
        ({"kind": "custom", "start": "2026-03-02", "shift_hours": 337}, "less than or equal to 336"),
        ({"kind": "weekly", "start": "2026-03-02", "handoff_weekday": "monday"}, "'mon', 'tue'"),
        ({"kind": "hourly", "start": "2026-03-02"}, "'daily', 'weekly' or 'custom'"),
        ({"kind": "daily", "start": "2026-03-02", "handoff": 1050}, "quote times in YAML"),
        ({"kind": "daily", "start": "2026-03-02", "handoff": "9:00"}, "two-digit hours: '09:00'"),
        ({"kind": "daily", "start": "2026-03-02", "handoff": "09:00+02:00"}, "leave out the UTC offset"),
        ({"kind": "daily", "start": "2026-03-02", "every": 2}, "Extra inputs are not permitted"),
    ],
)
def test_rotation_validation(rotation: dict[str, Any], expected: str) -> None:
    assert expected in errors(base(layers=[{"name": "l", "rotation": rotation, "participants": ["a"]}]))


def test_schedule_validation() -> None:
    assert "String should match pattern" in errors(base(id="Primary Team"))
    assert "at least 1 item" in errors(base(layers=[]))
    assert "at least 1 item" in errors(base(layers=[{**daily("2026-03-02"), "participants": []}]))
    assert "at least 1 character" in errors(base(layers=[{**daily("2026-03-02"), "participants": [""]}]))
    assert "layer names must be unique; repeated: primary" in errors(
        base(layers=[daily("2026-03-02"), daily("2026-03-02")])
    )
    assert "reserved" in errors(base(layers=[daily("2026-03-02", name="override")]))
    assert "Extra inputs are not permitted" in errors(base(owner="me"))


def test_override_validation() -> None:
    empty = {"person": "a", "start": "2026-03-03T12:00:00Z", "end": "2026-03-03T12:00:00Z"}
    message = errors(base(overrides=[empty]))
    assert "override end (2026-03-03T12:00:00+00:00) must be after start" in message
    assert "timezone info" in errors(
        base(overrides=[{"person": "a", "start": "2026-03-03T12:00:00", "end": "2026-03-04T12:00:00Z"}])
    )


def test_restriction_validation_and_alias() -> None:
    assert "at least 1 item" in errors(
        base(layers=[daily("2026-03-02", restrict={"days": [], "from": "09:00", "to": "17:00"})])
    )
    assert "from" in errors(base(layers=[daily("2026-03-02", restrict={"days": ["mon"], "to": "17:00"})]))
    spec = schedule(daily("2026-03-02", restrict=BUSINESS_HOURS))
    restriction = spec.layers[0].restrict
    assert restriction is not None
    assert restriction.from_ == time(9) and restriction.days[0] is Weekday.MON
    dumped = spec.model_dump(mode="json")["layers"][0]["restrict"]
    assert dumped == {"days": BUSINESS_HOURS["days"], "from": "09:00:00", "to": "17:00:00"}
    assert ScheduleSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_models_are_frozen() -> None:
    spec = schedule(daily("2026-03-02"))
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


# The documented example -----------------------------------------------------------------------------


def documented_example() -> ScheduleSpec:
    text = (Path(__file__).parents[2] / "docs" / "oncall.md").read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    return ScheduleSpec.model_validate(yaml.safe_load(block))


def test_documented_example_reads_as_the_docs_say() -> None:
    spec = documented_example()
    berlin = ZoneInfo("Europe/Berlin")

    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 3, day, hour, tzinfo=berlin)

    assert on_call_at(spec, at(2, 8)) is None  # before either rotation's first hand-off
    assert on_call_at(spec, at(2, 9)) == "dave"  # office hours: the top layer decides
    assert on_call_at(spec, at(2, 18)) == "alice"
    assert on_call_at(spec, at(9, 8)) == "alice"
    assert on_call_at(spec, at(9, 12)) == "erin"
    assert on_call_at(spec, at(9, 18)) == "bob"
    assert on_call_at(spec, at(14, 20)) == "frank"
    assert on_call_at(spec, at(15, 9)) == "frank"
    assert on_call_at(spec, at(15, 10)) == "bob"
    assert on_call_at(spec, at(16, 18)) == "carol"
    assert spec.overrides[0].reason
