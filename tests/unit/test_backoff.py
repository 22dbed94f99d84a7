"""Backoff: full-jitter windows, the Retry-After floor, pressure, and when to give up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from missionctl.notifications.backoff import MAX_ATTEMPTS, next_delay, should_give_up, window

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_window_doubles_per_attempt_up_to_the_cap() -> None:
    assert [window(a) for a in range(5)] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert window(9) == 600.0
    assert window(10_000) == 600.0  # no float overflow for absurd attempt counts


def test_pressure_doubles_the_window() -> None:
    assert window(0, pressure=True) == 4.0
    assert window(3, pressure=True) == 2 * window(3)
    assert window(20, pressure=True) == 600.0


def test_delays_spread_over_the_whole_window() -> None:
    rng = random.Random(7)
    delays = [next_delay(3, retry_after=None, rng=rng) for _ in range(2000)]
    assert all(0.0 <= d <= 16.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 15.0  # full jitter, not "window plus a little"


def test_retry_after_is_a_floor_even_above_the_cap() -> None:
    rng = random.Random(1)
    assert all(next_delay(0, retry_after=7.0, rng=rng) >= 7.0 for _ in range(200))
    assert next_delay(0, retry_after=3600.0, rng=rng, cap=600.0) == 3600.0


def test_same_seed_same_delays() -> None:
    first = [next_delay(a, retry_after=None, rng=random.Random(42)) for a in range(8)]
    again = [next_delay(a, retry_after=None, rng=random.Random(42)) for a in range(8)]
    assert first == again


def test_negative_attempt_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        next_delay(-1, retry_after=None, rng=random.Random(0))


@given(
    attempt=st.integers(min_value=0, max_value=200),
    base=st.floats(min_value=0.01, max_value=60),
    cap=st.floats(min_value=0, max_value=3600),
    retry_after=st.none() | st.floats(min_value=0, max_value=3600),
    pressure=st.booleans(),
    seed=st.integers(),
)
def test_delay_is_within_floor_and_effective_cap(
    attempt: int, base: float, cap: float, retry_after: float | None, pressure: bool, seed: int
) -> None:
    delay = next_delay(attempt, base=base, cap=cap, retry_after=retry_after, rng=random.Random(seed), pressure=pressure)
    floor = retry_after or 0.0
    effective_cap = max(min(cap, base * 2.0 ** min(attempt + pressure, 62)), floor)
    assert floor <= delay <= effective_cap
    assert delay <= max(cap, floor)


def test_gives_up_after_max_attempts() -> None:
    assert MAX_ATTEMPTS == 8
    assert not should_give_up(0, T0, T0)
    assert not should_give_up(6, T0, T0)
    assert should_give_up(7, T0, T0)  # the 8th attempt (index 7) was the last
    assert should_give_up(2, T0, T0, max_attempts=3)


def test_gives_up_when_the_message_is_too_old() -> None:
    assert not should_give_up(0, T0, T0 + timedelta(minutes=59))
    assert should_give_up(0, T0, T0 + timedelta(hours=1))
    assert should_give_up(0, T0, T0 + timedelta(minutes=5), max_age=timedelta(minutes=5))
