"""Injectable clocks: every time decision in Mission Control asks one of these for `now`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current instant, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; tests fast-forward it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by `delta` and return the new instant."""
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)


class ScaledClock:
    """Wall time sped up `speed` times from `anchor`; processes given the same anchor agree on `now`.

    For end-to-end tests and demos of minute-scale escalations in seconds, across real processes.
    """

    def __init__(self, anchor: datetime, speed: float) -> None:
        if anchor.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware anchor")
        self._anchor = anchor.astimezone(UTC)
        self._speed = speed

    def now(self) -> datetime:
        real = datetime.now(UTC)
        return self._anchor + (real - self._anchor) * self._speed


def ensure_utc(value: datetime) -> datetime:
    """Return `value` as aware UTC; naive values (as SQLite hands them back) are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
