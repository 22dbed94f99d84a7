"""Property-based tests of the detector state machines over generated evaluation and probe sequences."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from missionctl.detectors import AlertState, AlertStatus, ProbeOutcome, ProbeState, spike, step_alert, step_probe

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)
T0 = datetime(2026, 3, 1, tzinfo=UTC)

# Evaluations: (seconds since the previous one, condition). Irregular gaps model skipped or late evaluations.
evaluations = st.lists(st.tuples(st.integers(min_value=1, max_value=120), st.booleans()), max_size=80)
durations = st.sampled_from([0, 15, 30, 60, 90, 300, 600])
outcomes = st.lists(st.sampled_from(["success", "failure", "unknown"]), max_size=60)


@PROPERTY_SETTINGS
@given(evaluations, durations, durations)
def test_alert_never_fires_before_for_seconds_of_continuous_activity(
    evals: list[tuple[int, bool]], for_seconds: int, keep_firing_for: int
) -> None:
    state, now = AlertState(), T0
    run_start: datetime | None = None  # first evaluation of the current unbroken run of true evaluations
    first_false: datetime | None = None  # first false evaluation since the last true one
    for gap, active in evals:
        now += timedelta(seconds=gap)
        prev = state
        state = step_alert(
            state, active=active, now=now, for_seconds=for_seconds, keep_firing_for_seconds=keep_firing_for
        )
        if active:
            run_start, first_false = run_start or now, None
        else:
            run_start, first_false = None, first_false or now
        held = run_start is not None and (now - run_start).total_seconds() >= for_seconds
        if state.state is AlertStatus.FIRING and prev.state is not AlertStatus.FIRING:
            assert held and state.fired_at == now  # fires only after `for` of continuous activity
        if held:
            assert state.state is AlertStatus.FIRING  # ... and then without further delay
        if state.state is AlertStatus.PENDING:
            assert active and state.active_at == run_start and not held
        if state.state is AlertStatus.FIRING and not active:
            assert first_false is not None and (now - first_false).total_seconds() < keep_firing_for
        if prev.state is AlertStatus.FIRING and state.state is AlertStatus.INACTIVE:
            assert state.resolved_at == now


def last_known(seq: list[ProbeOutcome]) -> list[ProbeOutcome]:
    return [o for o in seq if o != "unknown"]


def run_probe(seq: list[ProbeOutcome], failure_threshold: int, success_threshold: int) -> ProbeState:
    state = ProbeState()
    for outcome in seq:
        state = step_probe(state, outcome, failure_threshold=failure_threshold, success_threshold=success_threshold)
    return state


@PROPERTY_SETTINGS
@given(outcomes, st.integers(min_value=1, max_value=5))
def test_probe_failing_iff_last_known_outcomes_all_failed(seq: list[ProbeOutcome], failure_threshold: int) -> None:
    known = last_known(seq)
    tail = known[-failure_threshold:]
    expected_failing = len(tail) == failure_threshold and all(o == "failure" for o in tail)
    state = run_probe(seq, failure_threshold, 1)
    assert (state.status == "failing") == expected_failing
    assert (state.status == "unknown") == (not expected_failing and "success" not in known)


@PROPERTY_SETTINGS
@given(outcomes, st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=5))
def test_unknown_outcomes_change_nothing(
    seq: list[ProbeOutcome], failure_threshold: int, success_threshold: int
) -> None:
    assert run_probe(seq, failure_threshold, success_threshold) == run_probe(
        last_known(seq), failure_threshold, success_threshold
    )


finite = st.floats(min_value=0, max_value=1e9, allow_nan=False)


@PROPERTY_SETTINGS
@given(finite, st.lists(finite, max_size=20), st.floats(min_value=0.01, max_value=100), finite)
def test_spike_is_never_active_below_min_volume_and_only_above_ratio(
    value: float, baseline: list[float], ratio: float, min_volume: float
) -> None:
    verdict = spike(value, baseline, ratio=ratio, min_volume=min_volume)
    expected = bool(baseline) and value >= min_volume and value >= ratio * max(statistics.median(baseline or [0]), 1e-9)
    assert verdict.active is expected
    if value < min_volume:
        assert not verdict.active  # idle series never page, whatever the ratio
