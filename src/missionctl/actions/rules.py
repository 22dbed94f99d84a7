"""Pure action rules: when an automation's condition holds, the circuit breaker, and the guard-rail keys.

Conditions (`when:` of a runbook automation) are matched against the facts the caller passes, e.g.
`{"readiness_probe_consecutive_failures": 3, "signal.source": "detector", "detector": "checkout.readiness"}`.
Every key of `when` must be a known fact; a number means "at least this many", a list means "one of these",
anything else must be equal. Keys may be dotted (`signal.source`): a flat fact with that exact name wins,
otherwise the dotted path is looked up in nested facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

_MISSING = object()


class Status(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    DECLINED = "declined"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    BLOCKED = "blocked"


RUNNABLE = frozenset({Status.QUEUED, Status.APPROVED})
FINISHED = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DECLINED, Status.DRY_RUN, Status.SKIPPED, Status.BLOCKED}
)
# Results after which the execution no longer counts as "the once" for its incident: it may be tried again.
RELEASES_ONCE = frozenset({Status.FAILED, Status.TIMED_OUT, Status.DECLINED, Status.BLOCKED})


class Mode(StrEnum):
    AUTOMATIC = "automatic"
    APPROVAL = "approval"
    MANUAL = "manual"


class Kind(StrEnum):
    HTTP = "http"
    COMMAND = "command"
    BUILTIN = "builtin"


def holds(when: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    """Whether every condition of `when` is met by `facts` (an empty `when` never holds: it is not a condition)."""
    return bool(when) and all(_matches(expected, fact(facts, key)) for key, expected in when.items())


def fact(facts: Mapping[str, Any], key: str) -> Any:
    """The fact named `key` (flat name first, then a dotted path), or a sentinel that matches nothing."""
    if key in facts:
        return facts[key]
    value: Any = facts
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _matches(expected: Any, actual: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and actual >= expected
    if isinstance(expected, list):
        return actual in expected
    return bool(expected == actual)


@dataclass(frozen=True)
class BreakerState:
    """An action's failures in a row and, once they reach the threshold, until when it refuses to run."""

    failures: int = 0
    open_until: datetime | None = None


def breaker_open(state: BreakerState, now: datetime) -> bool:
    return state.open_until is not None and now < state.open_until


def after_result(
    state: BreakerState, *, succeeded: bool, now: datetime, threshold: int, cooldown: timedelta
) -> BreakerState:
    """The breaker after one real execution: a success closes it; the threshold-th failure in a row opens it.

    After the cool-down one trial runs (half-open); since the count stays at or above the threshold, a
    failed trial opens the breaker again at once.
    """
    if succeeded:
        return BreakerState()
    failures = state.failures + 1
    if failures >= threshold:
        return BreakerState(failures, now + cooldown)
    return BreakerState(failures, state.open_until)


def concurrency_key(service: str | None, action: str, configured: str | None = None) -> str:
    """Executions sharing this key never run at the same time: by default one per (service, action)."""
    return configured or f"{service or '*'}/{action}"


def once_key(incident_id: int, reopened: int, action: str) -> str:
    """The key of "once until resolved": per incident, action and life of the incident (a reopen starts anew)."""
    return f"{incident_id}/{reopened}/{action}"
