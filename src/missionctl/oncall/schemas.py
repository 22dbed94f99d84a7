"""The on-call schedule format: frozen pydantic models that forbid unknown keys (the catalog's YAML shape)."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

SCHEDULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
MAX_SHIFT_HOURS = 24 * 14
# Shift sources that are not layer names, so no layer may be called this.
RESERVED_LAYER_NAMES = frozenset({"override", "none"})


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as `date.weekday()` counts."""
        return list(Weekday).index(self)


class RotationKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"


def _wall_time(value: Any) -> Any:
    """Refuse numbers (YAML reads an unquoted 17:30 as the number 1050, which pydantic takes as seconds)."""
    if isinstance(value, bool | int | float):
        raise ValueError(
            f"expected a wall time such as '17:30', got the number {value!r}; "
            "quote times in YAML (unquoted 17:30 is read as the number 1050)"
        )
    if isinstance(value, str) and re.fullmatch(r"\d:\d\d(:\d\d)?", value):
        raise ValueError(f"write wall times with two-digit hours: '0{value}', not '{value}'")
    return value


def _naive_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a wall time is local to the schedule's time zone; leave out the UTC offset")
    return value


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


WallTime = Annotated[time, BeforeValidator(_wall_time), AfterValidator(_naive_time)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rotation(_Strict):
    """How shifts follow each other: every day, every week on a weekday, or every N hours of wall time."""

    kind: RotationKind
    handoff: WallTime = Field(default=time(9, 0), description="Local wall time of the hand-off")
    handoff_weekday: Weekday | None = Field(default=None, description="Hand-off day; weekly rotations only")
    shift_hours: Annotated[int, Field(ge=1, le=MAX_SHIFT_HOURS)] | None = Field(
        default=None, description="Wall-clock hours per shift; custom rotations only"
    )
    start: date = Field(description="Day of the first hand-off (weekly: the first handoff_weekday from it)")

    @model_validator(mode="after")
    def _kind_fields(self) -> Rotation:
        weekly, custom = self.kind is RotationKind.WEEKLY, self.kind is RotationKind.CUSTOM
        if weekly and self.handoff_weekday is None:
            raise ValueError("a weekly rotation needs handoff_weekday (mon, tue, ... sun)")
        if not weekly and self.handoff_weekday is not None:
            raise ValueError(f"handoff_weekday is only for weekly rotations, not {self.kind}")
        if custom and self.shift_hours is None:
            raise ValueError(f"a custom rotation needs shift_hours (1 to {MAX_SHIFT_HOURS})")
        if not custom and self.shift_hours is not None:
            raise ValueError(f"shift_hours is only for custom rotations, not {self.kind}")
        return self


class Restriction(_Strict):
    """The layer covers local times in [from, to) starting on the listed days; to <= from crosses midnight."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    days: Annotated[list[Weekday], Field(min_length=1)]
    from_: WallTime = Field(alias="from")
    to: WallTime

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends the next day (to == from is a whole day)."""
        return self.to <= self.from_


class Layer(_Strict):
    """One rotation of people; higher layers (listed later) win where they cover."""

    name: NonEmpty
    rotation: Rotation
    participants: Annotated[list[NonEmpty], Field(min_length=1, description="Person ids, in turn order")]
    restrict: Restriction | None = None


class Override(_Strict):
    """`person` is on call in [start, end), whatever the layers say."""

    person: NonEmpty
    start: UtcDatetime
    end: UtcDatetime
    reason: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            start, end = self.start.isoformat(), self.end.isoformat()
            raise ValueError(f"override end ({end}) must be after start ({start})")
        return self


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(key: str) -> str:
    if key == "localtime":
        raise ValueError("'localtime' depends on the machine; give an IANA time zone such as Europe/Berlin")
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(key, sorted(_known_zones()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " such as Europe/Berlin or UTC"
        raise ValueError(f"unknown time zone {key!r}: give an IANA time zone name{hint}") from None
    return key


class ScheduleSpec(_Strict):
    """An on-call schedule: layers of rotations, the top (last) first, and overrides that beat them all."""

    id: Annotated[str, Field(pattern=SCHEDULE_ID_PATTERN, description="Slug, e.g. platform-primary")]
    name: NonEmpty
    time_zone: Annotated[str, AfterValidator(_time_zone), Field(description="IANA zone of the wall times")]
    layers: Annotated[list[Layer], Field(min_length=1)]
    overrides: list[Override] = Field(default_factory=list)

    @model_validator(mode="after")
    def _layer_names(self) -> ScheduleSpec:
        names = [layer.name for layer in self.layers]
        reserved = sorted(RESERVED_LAYER_NAMES.intersection(names))
        if reserved:
            raise ValueError(f"layer name {reserved[0]!r} is reserved (it marks shifts without a layer)")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"layer names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)
