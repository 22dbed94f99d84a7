"""Pure detector state machines (Prometheus alerts, Kubernetes-style probes, spikes, after-release checks).

Nothing here touches the database, the network or the clock; callers pass `now` and the observation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

# ---------------------------------------------------------------------------------------------------------------------
# Prometheus alert state machine (rules/alerting.go, `AlertingRule.Eval`)
# ---------------------------------------------------------------------------------------------------------------------


class AlertStatus(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True)
class AlertState:
    """One alert instance; `AlertState()` is the state before any evaluation.

    `keep_firing_since` is Prometheus's `KeepFiringSince`: the first evaluation that found the condition false
    while firing (not the last one that found it true), from which `keep_firing_for` is counted.
    """

    state: AlertStatus = AlertStatus.INACTIVE
    active_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_seen_active: datetime | None = None
    keep_firing_since: datetime | None = None


def step_alert(
    prev: AlertState, *, active: bool, now: datetime, for_seconds: float, keep_firing_for_seconds: float
) -> AlertState:
    """One rule evaluation at `now`: `active` says whether the expression returned this alert's series."""
    if active:
        return _step_active(prev, now, for_seconds)
    return _step_inactive(prev, now, keep_firing_for_seconds)


def _step_active(prev: AlertState, now: datetime, for_seconds: float) -> AlertState:
    if prev.state is AlertStatus.INACTIVE:
        # A new alert instance (a resolved one is replaced, as Prometheus replaces inactive entries).
        prev = AlertState(state=AlertStatus.PENDING, active_at=now)
    new = replace(prev, last_seen_active=now, keep_firing_since=None)
    assert new.active_at is not None
    if new.state is AlertStatus.PENDING and (now - new.active_at).total_seconds() >= for_seconds:
        return replace(new, state=AlertStatus.FIRING, fired_at=now)
    return new


def _step_inactive(prev: AlertState, now: datetime, keep_firing_for_seconds: float) -> AlertState:
    if prev.state is AlertStatus.PENDING:
        return AlertState()  # Prometheus deletes a pending alert outright: it never fired, so it never resolves.
    if prev.state is AlertStatus.INACTIVE:
        return prev
    if keep_firing_for_seconds > 0:
        since = prev.keep_firing_since or now
        if (now - since).total_seconds() < keep_firing_for_seconds:
            return replace(prev, keep_firing_since=since)
    return replace(prev, state=AlertStatus.INACTIVE, resolved_at=now, keep_firing_since=None)


def fired_transition(prev: AlertState, new: AlertState) -> Literal["fired", "resolved"] | None:
    """What a step means for paging: the alert started firing, stopped firing, or nothing changed."""
    if new.state is AlertStatus.FIRING and prev.state is not AlertStatus.FIRING:
        return "fired"
    if prev.state is AlertStatus.FIRING and new.state is not AlertStatus.FIRING:
        return "resolved"
    return None


# ---------------------------------------------------------------------------------------------------------------------
# HTTP probe with Kubernetes failure/success thresholds
# ---------------------------------------------------------------------------------------------------------------------

ProbeOutcome = Literal["success", "failure", "unknown"]
ProbeStatus = Literal["unknown", "healthy", "failing"]


@dataclass(frozen=True)
class ProbeState:
    """Consecutive outcomes so far; `ProbeState()` is the state before the first probe."""

    consecutive_failures: int = 0
    consecutive_successes: int = 0
    status: ProbeStatus = "unknown"


def step_probe(
    prev: ProbeState, outcome: ProbeOutcome, *, failure_threshold: int, success_threshold: int
) -> ProbeState:
    """Count one outcome; the status changes only when a run of outcomes reaches its threshold.

    An "unknown" outcome (we could not probe: our resolver, our process, our config) is skipped entirely.
    """
    if failure_threshold < 1 or success_threshold < 1:
        raise ValueError("probe thresholds must be at least 1")
    if outcome == "unknown":
        return prev
    if outcome == "failure":
        failures = prev.consecutive_failures + 1
        status: ProbeStatus = "failing" if failures >= failure_threshold else prev.status
        return ProbeState(consecutive_failures=failures, consecutive_successes=0, status=status)
    successes = prev.consecutive_successes + 1
    status = "healthy" if successes >= success_threshold else prev.status
    return ProbeState(consecutive_failures=0, consecutive_successes=successes, status=status)


class ProbeError(StrEnum):
    """Error codes an HTTP prober reports instead of a status code."""

    # The target's fault: counted as failures.
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    TLS = "tls_error"
    PROTOCOL = "protocol_error"
    NAME_NOT_FOUND = "name_not_found"  # the target's name does not resolve (NXDOMAIN)
    # Our own fault: the probe could not be evaluated.
    INVALID_URL = "invalid_url"
    RESOLVER_UNAVAILABLE = "resolver_unavailable"  # our own DNS resolver is down or unreachable
    PROCESS_PAUSED = "process_paused"  # we were suspended past the deadline, so a timeout proves nothing
    INTERNAL = "internal_error"


OWN_ERRORS = frozenset(
    {ProbeError.INVALID_URL, ProbeError.RESOLVER_UNAVAILABLE, ProbeError.PROCESS_PAUSED, ProbeError.INTERNAL}
)


def classify_http(status_code: int | None, error: str | None, *, expect_min: int, expect_max: int) -> ProbeOutcome:
    """Turn one probe's result into an outcome.

    Our own errors are "unknown"; any other error (including one we do not recognise) is a failure, so that a new
    kind of outage pages rather than being silently ignored.
    """
    if error is not None:
        return "unknown" if error in OWN_ERRORS else "failure"
    if status_code is None:
        return "unknown"
    return "success" if expect_min <= status_code <= expect_max else "failure"


# ---------------------------------------------------------------------------------------------------------------------
# Spikes and after-release comparisons
# ---------------------------------------------------------------------------------------------------------------------

# Stands in for a zero baseline so that a ratio is always defined: any volume above the floor is then a spike.
BASELINE_EPSILON = 1e-9
TIMES = "\u00d7"  # the multiplication sign, as in "6.3 times its 30-minute median"


@dataclass(frozen=True)
class SpikeVerdict:
    active: bool
    reason: str


def spike(
    now_value: float,
    baseline_values: Sequence[float],
    *,
    ratio: float,
    min_volume: float,
    previous_value: float | None = None,
    seconds_since_previous: float | None = None,
    min_rate_of_change: float = 0.0,
    name: str = "value",
    baseline_seconds: float | None = None,
) -> SpikeVerdict:
    """Is `now_value` a spike against the median of the trailing `baseline_values`?

    Active iff the value is at least `min_volume`, at least `ratio` times the baseline median and, when
    `min_rate_of_change` is positive and a previous value is given, rising at least that fast per second.
    Non-finite samples (Prometheus NaN, stale markers) are ignored.
    """
    _check_ratio(ratio)
    baseline = [v for v in baseline_values if math.isfinite(v)]
    if not baseline:
        return SpikeVerdict(False, "no baseline yet")
    if not math.isfinite(now_value):
        return SpikeVerdict(False, f"{name} has no current value")
    median = statistics.median(baseline)
    verdict = _compare(name, now_value, median, f"its {_window(baseline_seconds)} median", ratio, min_volume)
    if not verdict.active or min_rate_of_change <= 0 or previous_value is None:
        return verdict
    if seconds_since_previous is None or seconds_since_previous <= 0:
        raise ValueError("seconds_since_previous must be positive when previous_value is given")
    rate = (now_value - previous_value) / seconds_since_previous
    if rate < min_rate_of_change:
        return SpikeVerdict(
            False,
            f"{verdict.reason}, but it is changing at {_num(rate)}/s, below the {_num(min_rate_of_change)}/s minimum",
        )
    return SpikeVerdict(True, f"{verdict.reason}, rising at {_num(rate)}/s")


def after_release(
    window_values: Sequence[float],
    baseline_values: Sequence[float],
    *,
    ratio: float,
    min_volume: float,
    name: str = "error rate",
    baseline_seconds: float | None = None,
) -> SpikeVerdict:
    """Is the mean of `window_values` (since a release) `ratio` times the mean of `baseline_values` (before it)?"""
    _check_ratio(ratio)
    baseline = [v for v in baseline_values if math.isfinite(v)]
    window = [v for v in window_values if math.isfinite(v)]
    if not baseline:
        return SpikeVerdict(False, "no baseline yet")
    if not window:
        return SpikeVerdict(False, "no data since the release yet")
    where = f"its {_window(baseline_seconds)} mean before the release"
    return _compare(
        f"mean {name} since the release", statistics.fmean(window), statistics.fmean(baseline), where, ratio, min_volume
    )


def _compare(name: str, value: float, baseline: float, where: str, ratio: float, min_volume: float) -> SpikeVerdict:
    if value < min_volume:
        return SpikeVerdict(False, f"{name} {_num(value)} is below the minimum volume {_num(min_volume)}")
    times = value / max(baseline, BASELINE_EPSILON)
    shown = f"{_times(times)}{TIMES}" if baseline > BASELINE_EPSILON else "far above"
    reason = f"{name} {_num(value)} is {shown} {where} {_num(baseline)}"
    if value < ratio * max(baseline, BASELINE_EPSILON):
        return SpikeVerdict(False, f"{reason}, below the {_times(ratio)}{TIMES} threshold")
    return SpikeVerdict(True, reason)


def _check_ratio(ratio: float) -> None:
    if not (ratio > 0 and math.isfinite(ratio)):
        raise ValueError(f"ratio must be a positive number, not {ratio}")


def _times(x: float) -> str:
    return f"{x:,.1f}".removesuffix(".0")


def _window(seconds: float | None) -> str:
    if seconds is None:
        return "baseline"
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours}-hour"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}-minute"
    return f"{_num(seconds)}-second"


def _num(x: float) -> str:
    """Readable numbers: thousands separators for big ones, two or three significant digits for small ones."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}".removesuffix(".0")
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")
