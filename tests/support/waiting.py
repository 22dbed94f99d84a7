"""Bounded waits for what happens in other processes and threads (real servers, engines, receivers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 60.0  # generous: a loaded 2-core machine runs several servers at once in the end-to-end tests
POLL = 0.1


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    *,
    diagnostics: Callable[[], str] = lambda: "",
    timeout: float = DEADLINE,
    poll: float = POLL,
) -> T:
    """Poll `probe` until it returns something truthy and return that; on timeout fail with `diagnostics()`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{diagnostics()}")
        time.sleep(poll)
