"""Examples for the detector state machines: Prometheus alerts, probes, spikes and after-release checks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from pydantic import TypeAdapter, ValidationError

from missionctl.detectors import (
    AlertState,
    AlertStatus,
    DeployWindowDetector,
    Detector,
    ProbeDetector,
    ProbeError,
    ProbeOutcome,
    ProbeState,
    PromQLDetector,
    SpikeDetector,
    after_release,
    classify_http,
    fired_transition,
    spike,
    step_alert,
    step_probe,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run_alert(
    conditions: Iterable[bool], *, every: float = 30, for_seconds: float = 0, keep_firing_for: float = 0
) -> list[AlertState]:
    """Evaluate at T0, T0+every, ... and return the state after each evaluation."""
    state, states = AlertState(), []
    for i, active in enumerate(conditions):
        now = T0 + timedelta(seconds=i * every)
        state = step_alert(
            state, active=active, now=now, for_seconds=for_seconds, keep_firing_for_seconds=keep_firing_for
        )
        states.append(state)
    return states


# --- alert state machine ---------------------------------------------------------------------------------------------


def test_initial_state_is_inactive() -> None:
    assert AlertState().state is AlertStatus.INACTIVE


def test_for_zero_fires_on_first_evaluation() -> None:
    [state] = run_alert([True])
    assert state.state is AlertStatus.FIRING
    assert state.active_at == state.fired_at == T0


def test_for_ten_minutes_fires_at_ten_minutes_not_nine_thirty() -> None:
    states = run_alert([True] * 22, for_seconds=600)
    assert states[0].state is AlertStatus.PENDING and states[0].active_at == T0
    assert states[19].state is AlertStatus.PENDING  # 9 min 30 s
    assert states[20].state is AlertStatus.FIRING  # 10 min
    assert states[20].fired_at == T0 + timedelta(minutes=10)
    assert states[21].state is AlertStatus.FIRING and states[21].fired_at == states[20].fired_at


def test_for_is_measured_from_the_first_active_evaluation_not_rounded_to_the_interval() -> None:
    states = run_alert([True] * 5, every=45, for_seconds=100)
    assert [s.state for s in states] == ["pending", "pending", "pending", "firing", "firing"]  # fires at 135 s


def test_single_false_evaluation_while_pending_resets_the_clock() -> None:
    states = run_alert([True] * 19 + [False] + [True] * 21, for_seconds=600)
    assert states[19] == AlertState()  # pending goes straight to inactive, never "resolved"
    assert states[20].state is AlertStatus.PENDING and states[20].active_at == T0 + timedelta(minutes=10)
    assert states[39].state is AlertStatus.PENDING
    assert states[40].state is AlertStatus.FIRING and states[40].fired_at == T0 + timedelta(minutes=20)


def test_keep_firing_for_is_not_a_grace_for_pending_alerts() -> None:
    states = run_alert([True, False], for_seconds=600, keep_firing_for=300)
    assert states[1].state is AlertStatus.INACTIVE


def test_firing_resolves_on_first_false_evaluation_without_keep_firing_for() -> None:
    states = run_alert([True, True, False])
    assert states[2].state is AlertStatus.INACTIVE
    assert states[2].resolved_at == T0 + timedelta(seconds=60)
    assert states[2].fired_at == T0 and states[2].last_seen_active == T0 + timedelta(seconds=30)


def test_keep_firing_for_bridges_a_short_gap() -> None:
    states = run_alert([True, False, False, True, True], keep_firing_for=120)
    assert all(s.state is AlertStatus.FIRING for s in states)
    assert states[1].keep_firing_since == T0 + timedelta(seconds=30)
    assert states[3].keep_firing_since is None  # reset once the condition is true again
    assert {s.fired_at for s in states} == {T0}  # one firing, not two


def test_keep_firing_for_counts_from_the_first_false_evaluation_and_then_resolves() -> None:
    # Active at 0 s; false from 30 s. Prometheus stamps KeepFiringSince at 30 s, so 120 s holds until 150 s.
    states = run_alert([True] + [False] * 6, keep_firing_for=120)
    assert [s.state for s in states] == ["firing"] * 5 + ["inactive", "inactive"]
    assert states[5].resolved_at == T0 + timedelta(seconds=150)
    assert states[6].resolved_at == states[5].resolved_at


def test_condition_true_after_resolution_starts_a_new_alert() -> None:
    states = run_alert([True, False, True], for_seconds=30)
    assert [s.state for s in states] == ["pending", "inactive", "pending"]
    assert states[2].active_at == T0 + timedelta(seconds=60)
    states = run_alert([True, True, False, True], for_seconds=30)
    assert states[2].state is AlertStatus.INACTIVE and states[2].resolved_at is not None
    assert states[3] == AlertState(
        state=AlertStatus.PENDING, active_at=T0 + timedelta(seconds=90), last_seen_active=T0 + timedelta(seconds=90)
    )


def test_fired_transition() -> None:
    states = [AlertState(), *run_alert([True, True, True, False, False], for_seconds=30)]
    transitions = [fired_transition(a, b) for a, b in itertools.pairwise(states)]
    assert transitions == [None, "fired", None, "resolved", None]


def test_fired_transition_ignores_keep_firing_and_pending() -> None:
    states = [AlertState(), *run_alert([True, False, True, False], keep_firing_for=600)]
    transitions = [fired_transition(a, b) for a, b in itertools.pairwise(states)]
    assert transitions == ["fired", None, None, None]


# --- probes ----------------------------------------------------------------------------------------------------------


def run_probe(outcomes: Iterable[str], *, failure_threshold: int = 3, success_threshold: int = 1) -> ProbeState:
    state = ProbeState()
    for outcome in outcomes:
        state = step_probe(
            state, cast(ProbeOutcome, outcome), failure_threshold=failure_threshold, success_threshold=success_threshold
        )
    return state


def test_three_consecutive_failures_is_failing() -> None:
    assert run_probe(["failure"] * 2).status == "unknown"
    assert run_probe(["success", "failure", "failure"]).status == "healthy"
    state = run_probe(["success", "failure", "failure", "failure"])
    assert state == ProbeState(consecutive_failures=3, consecutive_successes=0, status="failing")


def test_interleaved_success_resets_the_failure_count() -> None:
    state = run_probe(["success", "failure", "failure", "success", "failure"])
    assert state.status == "healthy" and state.consecutive_failures == 1


def test_unknown_neither_triggers_nor_resets() -> None:
    assert run_probe(["success", *["unknown"] * 50]).status == "healthy"
    state = run_probe(["success", "failure", "unknown", "failure", "unknown", "failure"])
    assert state.status == "failing" and state.consecutive_failures == 3
    state = run_probe(["failure"] * 3 + ["unknown"] * 10)
    assert state.status == "failing"


def test_success_threshold_needed_to_recover() -> None:
    failing = run_probe(["failure"] * 3)
    assert run_probe(["failure"] * 3 + ["success"], success_threshold=2).status == "failing"
    assert run_probe(["failure"] * 3 + ["success"] * 2, success_threshold=2).status == "healthy"
    assert failing.status == "failing"


def test_first_status_needs_a_full_run() -> None:
    assert run_probe(["success"], success_threshold=2).status == "unknown"
    assert run_probe(["success", "success"], success_threshold=2).status == "healthy"


def test_thresholds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        step_probe(ProbeState(), "failure", failure_threshold=0, success_threshold=1)


@pytest.mark.parametrize(
    ("status_code", "error", "expected"),
    [
        (200, None, "success"),
        (399, None, "success"),
        (301, None, "success"),
        (199, None, "failure"),
        (400, None, "failure"),
        (503, None, "failure"),
        (None, ProbeError.TIMEOUT, "failure"),
        (None, "connection_refused", "failure"),
        (None, ProbeError.NAME_NOT_FOUND, "failure"),
        (None, "some_new_error", "failure"),
        (None, ProbeError.INVALID_URL, "unknown"),
        (None, "resolver_unavailable", "unknown"),
        (None, ProbeError.PROCESS_PAUSED, "unknown"),
        (200, ProbeError.INTERNAL, "unknown"),
        (None, None, "unknown"),
    ],
)
def test_classify_http(status_code: int | None, error: str | None, expected: str) -> None:
    assert classify_http(status_code, error, expect_min=200, expect_max=399) == expected


# --- spikes ----------------------------------------------------------------------------------------------------------


def test_spike_reason_is_human_readable() -> None:
    verdict = spike(
        4210, [600, 670, 700, 650, 690], ratio=3, min_volume=100, name="retry queue depth", baseline_seconds=1800
    )
    assert verdict.active
    assert verdict.reason == "retry queue depth 4,210 is 6.3\u00d7 its 30-minute median 670"


def test_no_baseline_yet() -> None:
    verdict = spike(1e6, [], ratio=3, min_volume=0)
    assert not verdict.active and verdict.reason == "no baseline yet"
    assert spike(1e6, [float("nan")], ratio=3, min_volume=0).reason == "no baseline yet"


@pytest.mark.parametrize("value", [0.0, 1.0, 4.9])
def test_idle_series_below_min_volume_never_fire(value: float) -> None:
    # A jump from 0 to 4.9 is "infinitely" many times the baseline, but still idle.
    verdict = spike(value, [0, 0, 0], ratio=3, min_volume=5)
    assert not verdict.active and "below the minimum volume" in verdict.reason


def test_zero_baseline_above_volume_is_a_spike() -> None:
    verdict = spike(5, [0, 0, 0], ratio=3, min_volume=5)
    assert verdict.active and "far above" in verdict.reason


@pytest.mark.parametrize(
    ("value", "active"),
    [(299.99, False), (300, True), (300.01, True)],
)
def test_ratio_boundary_is_inclusive(value: float, active: bool) -> None:
    assert spike(value, [100], ratio=3, min_volume=0).active is active


def test_baseline_is_the_median_so_one_outlier_does_not_hide_a_spike() -> None:
    assert spike(400, [100, 100, 100, 100, 10_000], ratio=3, min_volume=0).active


def test_ratio_below_one_and_invalid_ratio() -> None:
    assert spike(60, [100], ratio=0.5, min_volume=0).active  # "at least half the usual" is allowed
    with pytest.raises(ValueError, match="ratio"):
        spike(60, [100], ratio=0, min_volume=0)


def test_rate_of_change() -> None:
    def rising(previous: float | None, seconds: float | None = 30) -> bool:
        return spike(
            400,
            [100],
            ratio=3,
            min_volume=0,
            previous_value=previous,
            seconds_since_previous=seconds,
            min_rate_of_change=1.0,
        ).active

    assert rising(370)  # +30 in 30 s = 1/s
    assert not rising(390)
    slow = spike(400, [100], ratio=3, min_volume=0, previous_value=390, seconds_since_previous=30, min_rate_of_change=1)
    assert "below the 1/s minimum" in slow.reason
    assert rising(None, None)  # no previous value: no rate check
    assert spike(400, [100], previous_value=500, seconds_since_previous=30, ratio=3, min_volume=0).active  # 0 = off
    with pytest.raises(ValueError, match="seconds_since_previous"):
        rising(370, 0)


def test_nan_current_value_is_not_a_spike() -> None:
    assert not spike(float("nan"), [1.0], ratio=3, min_volume=0).active


# --- after a release -------------------------------------------------------------------------------------------------


def test_after_release_compares_means() -> None:
    verdict = after_release([0.04, 0.06], [0.01, 0.02, 0.03], ratio=2, min_volume=0.01, baseline_seconds=1800)
    assert verdict.active
    assert (
        verdict.reason
        == "mean error rate since the release 0.05 is 2.5\u00d7 its 30-minute mean before the release 0.02"
    )
    assert not after_release([0.03, 0.05], [0.01, 0.02, 0.03], ratio=2.5, min_volume=0.01).active


def test_after_release_needs_volume_and_data() -> None:
    assert not after_release([0.001], [0.0], ratio=2, min_volume=0.01).active
    assert after_release([], [0.1], ratio=2, min_volume=0).reason == "no data since the release yet"
    assert after_release([0.5], [], ratio=2, min_volume=0).reason == "no baseline yet"


# --- schemas ---------------------------------------------------------------------------------------------------------

DETECTORS: TypeAdapter[list[Detector]] = TypeAdapter(list[Detector])


def test_detectors_discriminate_on_kind_with_defaults() -> None:
    parsed = DETECTORS.validate_python(
        [
            {"kind": "promql", "expr": "up == 0", "for_seconds": 300},
            {"kind": "http_probe", "url": "https://status.example.com/healthz"},
            {"kind": "spike", "expr": "retry_queue_depth", "min_volume": 100},
            {"kind": "after_release", "expr": "job:errors:rate5m", "min_volume": 0.01},
        ]
    )
    promql, probe, spike_detector, deploy = parsed
    assert isinstance(promql, PromQLDetector) and promql.interval_seconds == 30 and promql.labels == {}
    assert isinstance(probe, ProbeDetector) and (probe.failure_threshold, probe.success_threshold) == (3, 1)
    assert (probe.expect_status_min, probe.expect_status_max) == (200, 399)
    assert isinstance(spike_detector, SpikeDetector) and spike_detector.ratio == 3.0
    assert isinstance(deploy, DeployWindowDetector) and (deploy.window_seconds, deploy.ratio) == (900, 2.0)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "promql", "expr": "up == 0", "bogus": 1},
        {"kind": "promql", "expr": ""},
        {"kind": "nagios", "expr": "x"},
        {"kind": "spike", "expr": "x"},  # min_volume is required
        {"kind": "spike", "expr": "x", "min_volume": 1, "ratio": 0},
        {"kind": "http_probe", "url": "not a url"},
        {"kind": "http_probe", "url": "https://x.example", "failure_threshold": 0},
        {"kind": "http_probe", "url": "https://x.example", "expect_status_min": 400, "expect_status_max": 299},
    ],
)
def test_invalid_detectors_are_rejected(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DETECTORS.validate_python([data])


def test_detectors_are_frozen() -> None:
    detector = PromQLDetector(kind="promql", expr="up == 0")
    with pytest.raises(ValidationError):
        detector.expr = "up == 1"  # type: ignore[misc]
