"""Pure escalation rules: ladder positions, fences, clock checkpoints, engagement, signed ack links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from missionctl.errors import NotAuthenticated
from missionctl.escalation import acklink
from missionctl.escalation.policy import (
    Level,
    Policy,
    Position,
    action_item_reminders,
    engagement,
    job_is_current,
    next_position,
    slo_checkpoints,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def policy(levels: int, repeat: int) -> Policy:
    return Policy(tuple(Level(5, ({"person": f"p{i}"},)) for i in range(levels)), repeat)


def walk(p: Policy) -> list[Position]:
    positions = [Position(0, 0)]
    while (following := next_position(p, positions[-1])) is not None:
        positions.append(following)
    return positions


def test_ladder_then_repeat_then_stop() -> None:
    assert walk(policy(2, 1)) == [Position(0, 0), Position(1, 0), Position(0, 1), Position(1, 1)]
    assert walk(policy(1, 0)) == [Position(0, 0)]


@given(levels=st.integers(1, 6), repeat=st.integers(0, 5))
def test_every_level_is_paged_once_per_round(levels: int, repeat: int) -> None:
    positions = walk(policy(levels, repeat))
    assert len(positions) == levels * (repeat + 1)
    assert len(set(positions)) == len(positions)


@pytest.mark.parametrize(
    ("status", "generation", "job_generation", "open_", "expected"),
    [
        ("active", 3, 3, True, True),
        ("active", 4, 3, True, False),
        ("acknowledged", 3, 3, True, False),
        ("active", 3, 3, False, False),
        ("stopped", 3, 3, True, False),
        ("exhausted", 3, 3, True, False),
    ],
)
def test_fencing(status: str, generation: int, job_generation: int, open_: bool, expected: bool) -> None:
    assert (
        job_is_current(status=status, generation=generation, job_generation=job_generation, incident_open=open_)
        is expected
    )


def test_slo_checkpoints_at_half_eighty_and_full_budget() -> None:
    points = slo_checkpoints(T0, T0 + timedelta(minutes=20))
    assert points == [
        ("slo_warning_50", T0 + timedelta(minutes=10)),
        ("slo_warning_80", T0 + timedelta(minutes=16)),
        ("slo_breach", T0 + timedelta(minutes=20)),
    ]


def test_action_item_reminders() -> None:
    due = T0 + timedelta(days=3)
    assert action_item_reminders(due, T0) == [("before", due - timedelta(days=1)), ("overdue", due + timedelta(days=1))]
    assert action_item_reminders(T0 + timedelta(hours=2), T0) == [("overdue", T0 + timedelta(days=1, hours=2))]


def test_engagement_states() -> None:
    assert engagement(T0, None, None, T0 + timedelta(minutes=4)).page_deadline_state == "running"
    assert engagement(T0, None, None, T0 + timedelta(minutes=6)).page_deadline_state == "breached"
    late = engagement(T0, T0 + timedelta(minutes=7), T0 + timedelta(minutes=9), T0 + timedelta(hours=1))
    assert (late.page_deadline_state, late.seconds_to_first_page, late.seconds_to_acknowledge) == ("missed", 420, 540)


def test_ack_link_round_trip_tamper_and_expiry() -> None:
    claim = acklink.AckClaim(42, "alice", T0 + timedelta(hours=1))
    token = acklink.make_token("s3cret", claim)
    assert acklink.read_token("s3cret", token, now=T0) == claim
    for bad in (token + "x", "x" + token, token.replace(".", ".A", 1), "", "."):
        with pytest.raises(NotAuthenticated):
            acklink.read_token("s3cret", bad, now=T0)
    with pytest.raises(NotAuthenticated):
        acklink.read_token("other", token, now=T0)
    with pytest.raises(NotAuthenticated):
        acklink.read_token("s3cret", token, now=T0 + timedelta(hours=1, seconds=1))
