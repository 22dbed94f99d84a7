"""Pure retry timing: full-jitter exponential backoff that honours Retry-After, and when to give up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_ATTEMPTS = 8
MAX_AGE = timedelta(hours=1)  # a page older than this is history, not news
DEFAULT_BASE = 2.0
DEFAULT_CAP = 600.0
_MAX_EXPONENT = 62  # 2**62 seconds is past any cap; larger exponents would overflow a float


def window(attempt: int, *, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP, pressure: bool = False) -> float:
    """The jitter window after failed attempt number `attempt` (0 for the first failure), at most `cap`.

    `pressure` (the destination answered 429 or 5xx) doubles the exponential term, still capped.
    """
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    if base <= 0 or cap < 0:
        raise ValueError("base must be positive and cap non-negative")
    exponent = min(attempt + (1 if pressure else 0), _MAX_EXPONENT)
    return min(cap, base * 2.0**exponent)


def next_delay(
    attempt: int,
    *,
    base: float = DEFAULT_BASE,
    cap: float = DEFAULT_CAP,
    retry_after: float | None,
    rng: random.Random,
    pressure: bool = False,
) -> float:
    """Seconds to wait before retrying: `uniform(0, window)` (full jitter), never less than `retry_after`.

    A destination's Retry-After wins over `cap` (the webhook channel already caps it at one hour).
    """
    delay = rng.uniform(0.0, window(attempt, base=base, cap=cap, pressure=pressure))
    if retry_after is not None and retry_after > delay:
        return float(retry_after)
    return delay


def should_give_up(
    attempt: int,
    first_attempt_at: datetime,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    max_age: timedelta = MAX_AGE,
) -> bool:
    """True once attempt number `attempt` (from 0) was the last allowed, or the message is `max_age` old."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    return attempt + 1 >= max_attempts or now - first_attempt_at >= max_age
