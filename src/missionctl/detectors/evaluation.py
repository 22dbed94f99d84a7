"""One evaluation of one detector (pure): observations and the stored series states in, new states and transitions out.

The runner fetches observations (Prometheus results, probe outcomes) outside any transaction and stores what this
module returns. Each series a query returns is one alert instance, as in Prometheus. An observation that could not
be made (`Unavailable`) changes nothing: a detector never fires, and never resolves, on its own errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from missionctl.detectors import rules
from missionctl.detectors.rules import AlertState, AlertStatus, ProbeState
from missionctl.detectors.schemas import (
    AnyDetector,
    DeployWindowDetector,
    ProbeDetector,
    PromQLDetector,
    SpikeDetector,
)
from missionctl.signals.events import labels_key

Labels = dict[str, str]
Transition = Literal["fired", "resolved"]

# A range-query point counts as "now" if it is this close to the evaluation time (floating-point timestamps).
_SAME_INSTANT = 0.001


# --- observations --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unavailable:
    """The observation could not be made (Prometheus down, bad query, our own probe error)."""

    reason: str


@dataclass(frozen=True)
class Vector:
    """An instant-query result: one value per label set."""

    samples: Sequence[tuple[Labels, float]]


@dataclass(frozen=True)
class Matrix:
    """A range-query result: `(unix seconds, value)` points per label set."""

    series: Sequence[tuple[Labels, Sequence[tuple[float, float]]]]


@dataclass(frozen=True)
class ProbeResult:
    """One HTTP probe: a status code, or an error code from `rules.ProbeError`."""

    status_code: int | None
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Release:
    """The latest release an after-release detector compares around, and the data around it."""

    version: str
    deployed_at: datetime
    data: Matrix | Unavailable | None  # None: the window after the release has closed


Observation = Vector | Matrix | ProbeResult | Release | Unavailable | None  # None: no release yet


# --- stored state and results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A series' row as stored: its labels, its state machine as JSON, and whether it is firing."""

    labels: Labels
    state: dict[str, Any]
    firing: bool


@dataclass(frozen=True)
class SeriesUpdate:
    """What one evaluation did to one series; `keep=False` means the row can go (inactive, nothing to remember)."""

    key: str
    labels: Labels
    state: dict[str, Any]
    firing: bool
    keep: bool
    transition: Transition | None = None
    reason: str = ""
    started_at: datetime | None = None


@dataclass(frozen=True)
class Evaluation:
    updates: list[SeriesUpdate] = field(default_factory=list)
    error: str | None = None


def evaluate(
    detector: AnyDetector, previous: Mapping[str, Stored], observation: Observation, now: datetime
) -> Evaluation:
    """Step every series of one detector at `now`."""
    if isinstance(observation, Unavailable):
        return Evaluation(error=observation.reason)
    if isinstance(detector, ProbeDetector):
        if not isinstance(observation, ProbeResult):
            raise TypeError("a probe detector needs a ProbeResult")
        return _probe(detector, previous, observation)
    if isinstance(detector, DeployWindowDetector):
        if not (observation is None or isinstance(observation, Release)):
            raise TypeError("an after-release detector needs a Release or None")
        return _after_release(detector, previous, observation, now)
    verdicts = _verdicts(detector, observation, now)
    if isinstance(verdicts, Unavailable):
        return Evaluation(error=verdicts.reason)
    return _step_alerts(detector, previous, verdicts, now)


# --- alert-style detectors (promql, spike, after_release) ----------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    labels: Labels
    active: bool
    reason: str


def _verdicts(detector: AnyDetector, observation: Observation, now: datetime) -> list[_Verdict] | Unavailable:
    if isinstance(detector, PromQLDetector) and isinstance(observation, Vector):
        return [_Verdict(labels, True, f"{detector.expr} = {_value(value)}") for labels, value in observation.samples]
    if isinstance(detector, SpikeDetector) and isinstance(observation, Matrix):
        return [_spike(detector, labels, points, now) for labels, points in observation.series]
    return Unavailable(f"unexpected observation {type(observation).__name__} for a {type(detector).__name__}")


def _spike(detector: SpikeDetector, labels: Labels, points: Sequence[tuple[float, float]], now: datetime) -> _Verdict:
    at = now.timestamp()
    current = [value for t, value in points if abs(t - at) < _SAME_INSTANT]
    before = [(t, value) for t, value in points if at - detector.baseline_seconds <= t < at - _SAME_INSTANT]
    previous = max(before, default=None)  # the latest point before now, for the rate of change
    verdict = rules.spike(
        current[0] if current else math.nan,
        [value for _, value in before],
        ratio=detector.ratio,
        min_volume=detector.min_volume,
        previous_value=previous[1] if previous is not None and math.isfinite(previous[1]) else None,
        seconds_since_previous=at - previous[0] if previous is not None else None,
        min_rate_of_change=detector.min_rate_of_change,
        baseline_seconds=detector.baseline_seconds,
    )
    return _Verdict(labels, verdict.active, verdict.reason)


def _after_release(
    detector: DeployWindowDetector, previous: Mapping[str, Stored], observation: Release | None, now: datetime
) -> Evaluation:
    if observation is None or observation.data is None:
        return _step_alerts(detector, previous, [], now)  # no release, or its window has closed: nothing is active
    if isinstance(observation.data, Unavailable):
        return Evaluation(error=observation.data.reason)
    cut = observation.deployed_at.timestamp()
    verdicts = []
    for labels, points in observation.data.series:
        verdict = rules.after_release(
            [value for t, value in points if t > cut],
            [value for t, value in points if cut - detector.baseline_seconds <= t <= cut],
            ratio=detector.ratio,
            min_volume=detector.min_volume,
            baseline_seconds=detector.baseline_seconds,
        )
        reason = f"{verdict.reason} (release {observation.version} at {observation.deployed_at.isoformat()})"
        verdicts.append(_Verdict(labels, verdict.active, reason))
    return _step_alerts(detector, previous, verdicts, now)


def _step_alerts(
    detector: PromQLDetector | SpikeDetector | DeployWindowDetector,
    previous: Mapping[str, Stored],
    verdicts: Sequence[_Verdict],
    now: datetime,
) -> Evaluation:
    for_seconds = getattr(detector, "for_seconds", 0)
    keep_firing_for = getattr(detector, "keep_firing_for_seconds", 0)
    current = {labels_key(verdict.labels): verdict for verdict in verdicts}
    gone = {key: _Verdict(stored.labels, False, "") for key, stored in previous.items() if key not in current}
    updates = []
    for key, verdict in {**current, **gone}.items():
        before = alert_from_json(previous[key].state) if key in previous else AlertState()
        after = rules.step_alert(
            before, active=verdict.active, now=now, for_seconds=for_seconds, keep_firing_for_seconds=keep_firing_for
        )
        transition = rules.fired_transition(before, after)
        reason = verdict.reason or _gone_reason(detector)
        updates.append(
            SeriesUpdate(
                key=key,
                labels=verdict.labels,
                state=alert_to_json(after),
                firing=after.state is AlertStatus.FIRING,
                keep=after.state is not AlertStatus.INACTIVE,
                transition=transition,
                reason=reason,
                started_at=after.active_at or before.active_at,
            )
        )
    return Evaluation(updates=sorted(updates, key=lambda update: update.key))


def _gone_reason(detector: AnyDetector) -> str:
    if isinstance(detector, PromQLDetector):
        return f"{detector.expr} no longer returns this series"
    return "the condition no longer holds"


# --- probes --------------------------------------------------------------------------------------------------------

PROBE_SERIES: Labels = {}


def _probe(detector: ProbeDetector, previous: Mapping[str, Stored], result: ProbeResult) -> Evaluation:
    key = labels_key(PROBE_SERIES)
    before = probe_from_json(previous[key].state) if key in previous else ProbeState()
    outcome = rules.classify_http(
        result.status_code, result.error, expect_min=detector.expect_status_min, expect_max=detector.expect_status_max
    )
    after = rules.step_probe(
        before, outcome, failure_threshold=detector.failure_threshold, success_threshold=detector.success_threshold
    )
    transition: Transition | None = None
    if after.status == "failing" and before.status != "failing":
        transition = "fired"
    elif before.status == "failing" and after.status != "failing":
        transition = "resolved"
    seen = f"HTTP {result.status_code}" if result.status_code is not None else (result.error or "no answer")
    if result.detail:
        seen = f"{seen}: {result.detail}"
    reason = _probe_reason(detector, after, seen)
    update = SeriesUpdate(
        key, PROBE_SERIES, probe_to_json(after), after.status == "failing", True, transition, reason, None
    )
    return Evaluation(updates=[update], error=f"probe not evaluated ({seen})" if outcome == "unknown" else None)


def _probe_reason(detector: ProbeDetector, state: ProbeState, seen: str) -> str:
    if state.status == "failing":
        return f"{detector.url} failed {state.consecutive_failures} consecutive probes (last: {seen})"
    return f"{detector.url} passed {state.consecutive_successes} consecutive probes (last: {seen})"


# --- JSON forms of the state machines ------------------------------------------------------------------------------


def alert_to_json(state: AlertState) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in asdict(state).items()}


def alert_from_json(data: Mapping[str, Any]) -> AlertState:
    def when(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value).astimezone(UTC) if isinstance(value, str) else None

    return AlertState(
        state=AlertStatus(data.get("state", AlertStatus.INACTIVE)),
        active_at=when("active_at"),
        fired_at=when("fired_at"),
        resolved_at=when("resolved_at"),
        last_seen_active=when("last_seen_active"),
        keep_firing_since=when("keep_firing_since"),
    )


def probe_to_json(state: ProbeState) -> dict[str, Any]:
    return asdict(state)


def probe_from_json(data: Mapping[str, Any]) -> ProbeState:
    status = data.get("status", "unknown")
    return ProbeState(
        consecutive_failures=int(data.get("consecutive_failures", 0)),
        consecutive_successes=int(data.get("consecutive_successes", 0)),
        status=status if status in ("unknown", "healthy", "failing") else "unknown",
    )


def _value(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points per series


def _step(span_seconds: float, interval_seconds: int) -> int:
    return max(interval_seconds, math.ceil(span_seconds / MAX_POINTS))


def range_for(detector: SpikeDetector, now: datetime) -> tuple[datetime, datetime, int]:
    """The `(start, end, step)` of a spike detector's range query at `now`: its baseline, with a point at now."""
    step = _step(detector.baseline_seconds, detector.interval_seconds)
    points = math.ceil(detector.baseline_seconds / step)
    return now - timedelta(seconds=points * step), now, step


def release_range(
    detector: DeployWindowDetector, deployed_at: datetime, now: datetime
) -> tuple[datetime, datetime, int] | None:
    """The range around a release, from the baseline before it to now; None once the window has closed."""
    if now > deployed_at + timedelta(seconds=detector.window_seconds):
        return None
    start = deployed_at - timedelta(seconds=detector.baseline_seconds)
    return start, now, _step((now - start).total_seconds(), detector.interval_seconds)
