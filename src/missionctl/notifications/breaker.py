"""Pure per-destination circuit breakers for outbound deliveries: closed → open → half-open → closed.

A destination (channel kind + address) that fails `failures` times in a row is *open* for a cool-down
that doubles with each opening in a row (`cooldown`, `2·cooldown`, … up to `max_cooldown`). While open,
deliveries to it are postponed by the caller, not failed and not counted as attempts. When the cool-down
has passed the breaker is *half-open*: exactly one delivery (the trial) may go; its success closes the
breaker, its failure opens it again for a longer cool-down. A trial that never reports back (its engine
crashed) is given up after `trial_timeout`, and the next delivery becomes the trial.

The state is in memory, per engine process: nothing here reads a clock (`now` comes from the caller) or
touches the database. Several engine processes each learn a destination is down on their own, after at
most `failures` attempts each; that bounded cost buys no database write per delivery.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

Key = tuple[str, str]  # (channel kind, address)

DEFAULT_FAILURES = 5
DEFAULT_COOLDOWN = timedelta(seconds=30)
DEFAULT_MAX_COOLDOWN = timedelta(minutes=10)
DEFAULT_TRIAL_WAIT = timedelta(seconds=2)
DEFAULT_TRIAL_TIMEOUT = timedelta(seconds=60)
DEFAULT_MAX_DESTINATIONS = 10_000


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Transition(StrEnum):
    OPENED = "opened"  # closed → open: the failure threshold was reached
    REOPENED = "reopened"  # half-open → open: the trial failed
    CLOSED = "closed"  # open or half-open → closed: a delivery succeeded


@dataclass(frozen=True)
class Admission:
    """May a delivery go now? If not, `retry_at` says when to look again."""

    allowed: bool
    state: BreakerState
    retry_at: datetime | None = None
    trial: bool = False  # this delivery is the half-open trial
    failures: int = 0  # failures in a row that opened it


@dataclass(frozen=True)
class Status:
    """One destination's breaker as reports and tests see it."""

    key: Key
    state: BreakerState
    failures: int
    openings: int
    open_until: datetime | None


@dataclass
class _Breaker:
    failures: int = 0
    openings: int = 0  # openings in a row without a success: the cool-down's exponent
    open_until: datetime | None = None
    trial_started: datetime | None = None
    opened_failures: int = 0


class BreakerBoard:
    """One breaker per destination, LRU-bounded (a forgotten destination comes back closed). Thread-safe."""

    def __init__(
        self,
        *,
        failures: int = DEFAULT_FAILURES,
        cooldown: timedelta = DEFAULT_COOLDOWN,
        max_cooldown: timedelta = DEFAULT_MAX_COOLDOWN,
        trial_wait: timedelta = DEFAULT_TRIAL_WAIT,
        trial_timeout: timedelta = DEFAULT_TRIAL_TIMEOUT,
        max_destinations: int = DEFAULT_MAX_DESTINATIONS,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if cooldown <= timedelta(0) or max_cooldown < cooldown:
            raise ValueError("cooldown must be positive and max_cooldown at least cooldown")
        if trial_wait <= timedelta(0) or trial_timeout <= timedelta(0) or max_destinations < 1:
            raise ValueError("trial_wait, trial_timeout and max_destinations must be positive")
        self.failures = failures
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.trial_wait = trial_wait
        self.trial_timeout = trial_timeout
        self.max_destinations = max_destinations
        self._breakers: OrderedDict[Key, _Breaker] = OrderedDict()
        self._lock = threading.Lock()

    def cooldown_for(self, openings: int) -> timedelta:
        """The cool-down after the `openings`-th opening in a row (from 1): doubling, capped."""
        factor = 2 ** min(max(openings - 1, 0), 30)
        longer: timedelta = self.cooldown * factor
        return min(self.max_cooldown, longer)

    def admit(self, key: Key, now: datetime) -> Admission:
        """Whether a delivery to `key` may be sent at `now` (a half-open trial is reserved for the caller)."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None or breaker.open_until is None:
                return Admission(True, BreakerState.CLOSED)
            self._breakers.move_to_end(key)
            if now < breaker.open_until:
                return Admission(False, BreakerState.OPEN, breaker.open_until, failures=breaker.opened_failures)
            trial = breaker.trial_started
            if trial is not None and now < trial + self.trial_timeout:
                retry = min(now + self.trial_wait, trial + self.trial_timeout)
                return Admission(False, BreakerState.HALF_OPEN, retry, failures=breaker.opened_failures)
            breaker.trial_started = now
            return Admission(True, BreakerState.HALF_OPEN, trial=True, failures=breaker.opened_failures)

    def release(self, key: Key) -> None:
        """Give back a trial that was admitted but not sent (e.g. the throttle said wait)."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is not None:
                breaker.trial_started = None

    def record(self, key: Key, *, ok: bool, now: datetime) -> Transition | None:
        """Record a delivery's outcome; returns the transition it caused, if any."""
        with self._lock:
            breaker = self._breakers.get(key)
            if ok:
                if breaker is None:
                    return None
                was_open = breaker.open_until is not None
                del self._breakers[key]  # closed and healthy: nothing worth remembering
                return Transition.CLOSED if was_open else None
            if breaker is None:
                breaker = self._breakers[key] = _Breaker()
                if len(self._breakers) > self.max_destinations:
                    self._breakers.popitem(last=False)
            else:
                self._breakers.move_to_end(key)
            return self._fail(breaker, now)

    def _fail(self, breaker: _Breaker, now: datetime) -> Transition | None:
        breaker.failures += 1
        if breaker.open_until is not None:
            if breaker.trial_started is None or now < breaker.open_until:
                return None  # a delivery sent before the breaker opened: already counted as open
            breaker.openings += 1
            breaker.trial_started = None
            breaker.open_until = now + self.cooldown_for(breaker.openings)
            return Transition.REOPENED
        if breaker.failures < self.failures:
            return None
        breaker.openings += 1
        breaker.opened_failures = breaker.failures
        breaker.open_until = now + self.cooldown_for(breaker.openings)
        return Transition.OPENED

    def status(self, key: Key, now: datetime) -> Status:
        with self._lock:
            breaker = self._breakers.get(key)
            return _status(key, breaker, now)

    def statuses(self, now: datetime) -> list[Status]:
        """Every destination that is failing or open, as of `now`."""
        with self._lock:
            return [_status(key, breaker, now) for key, breaker in self._breakers.items()]

    def open_count(self, now: datetime) -> int:
        return sum(1 for s in self.statuses(now) if s.state is not BreakerState.CLOSED)


def _status(key: Key, breaker: _Breaker | None, now: datetime) -> Status:
    if breaker is None:
        return Status(key, BreakerState.CLOSED, 0, 0, None)
    if breaker.open_until is None:
        state = BreakerState.CLOSED
    else:
        state = BreakerState.OPEN if now < breaker.open_until else BreakerState.HALF_OPEN
    return Status(key, state, breaker.failures, breaker.openings, breaker.open_until)
