"""Exhaustive tests of the pure incident rules: every (from, to) pair, every precondition."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from missionctl.errors import Conflict
from missionctl.incidents import lifecycle
from missionctl.incidents.lifecycle import ALLOWED_TRANSITIONS, Status, TransitionFacts
from missionctl.runbooks.schemas import Severity

EXPECTED = {
    ("declared", "investigating"),
    ("declared", "mitigated"),
    ("declared", "resolved"),
    ("investigating", "mitigated"),
    ("investigating", "resolved"),
    ("mitigated", "investigating"),
    ("mitigated", "resolved"),
    ("resolved", "investigating"),
    ("resolved", "closed"),
}
ALL_FACTS = TransitionFacts(
    severity=Severity.SEV1, has_recovery_confirmation=True, action_item_count=1, postmortem_complete=True
)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_every_pair_is_allowed_exactly_when_listed(current: Status, target: Status) -> None:
    if (current, target) in EXPECTED:
        lifecycle.check_transition(current, target, ALL_FACTS)
    else:
        with pytest.raises(Conflict) as caught:
            lifecycle.check_transition(current, target, ALL_FACTS)
        assert caught.value.code == "invalid_transition"
        assert caught.value.details["from"] == current


def test_table_matches_the_documented_lifecycle() -> None:
    listed = {(a.value, b.value) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert listed == EXPECTED


def test_closed_is_final() -> None:
    assert ALLOWED_TRANSITIONS[Status.CLOSED] == frozenset()


@pytest.mark.parametrize("current", [Status.DECLARED, Status.INVESTIGATING, Status.MITIGATED])
def test_resolve_needs_a_recovery_confirmation(current: Status) -> None:
    facts = TransitionFacts(severity=Severity.SEV4, has_recovery_confirmation=False)
    with pytest.raises(Conflict) as caught:
        lifecycle.check_transition(current, Status.RESOLVED, facts)
    assert caught.value.code == "recovery_confirmation_required"


@pytest.mark.parametrize("severity", list(Severity))
@pytest.mark.parametrize("items", [0, 1, 3])
def test_sev1_and_sev2_need_an_action_item(severity: Severity, items: int) -> None:
    facts = TransitionFacts(severity=severity, has_recovery_confirmation=True, action_item_count=items)
    needs_items = severity in (Severity.SEV1, Severity.SEV2)
    if needs_items and items == 0:
        with pytest.raises(Conflict) as caught:
            lifecycle.check_transition(Status.INVESTIGATING, Status.RESOLVED, facts)
        assert caught.value.code == "action_items_required"
        assert str(severity) in caught.value.message
    else:
        lifecycle.check_transition(Status.INVESTIGATING, Status.RESOLVED, facts)


def test_close_needs_a_complete_postmortem() -> None:
    facts = TransitionFacts(severity=Severity.SEV3, postmortem_complete=False)
    with pytest.raises(Conflict) as caught:
        lifecycle.check_transition(Status.RESOLVED, Status.CLOSED, facts)
    assert caught.value.code == "postmortem_incomplete"
    lifecycle.check_transition(Status.RESOLVED, Status.CLOSED, TransitionFacts(Severity.SEV3, postmortem_complete=True))


@pytest.mark.parametrize(
    ("runbook", "severity", "expected"),
    [
        (15, Severity.SEV1, 15),
        (30, Severity.SEV1, 15),
        (60, Severity.SEV2, 30),
        (10, Severity.SEV2, 10),
        (45, Severity.SEV3, 45),
        (90, Severity.SEV4, 90),
    ],
)
def test_update_cadence_is_shortened_for_severe_incidents(runbook: int, severity: Severity, expected: int) -> None:
    assert lifecycle.update_cadence_minutes(runbook, severity) == expected


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_countdown_running_then_breached() -> None:
    deadline = T0 + timedelta(minutes=20)
    running = lifecycle.countdown(deadline, now=T0 + timedelta(minutes=5), finished_at=None)
    assert (running.state, running.seconds_left) == ("running", 900)
    breached = lifecycle.countdown(deadline, now=T0 + timedelta(minutes=21), finished_at=None)
    assert (breached.state, breached.seconds_left) == ("breached", -60)


def test_countdown_freezes_when_finished() -> None:
    deadline = T0 + timedelta(minutes=20)
    met = lifecycle.countdown(deadline, now=T0 + timedelta(hours=5), finished_at=deadline)
    assert (met.state, met.seconds_left) == ("met", 0)
    missed = lifecycle.countdown(deadline, now=T0, finished_at=deadline + timedelta(seconds=1))
    assert (missed.state, missed.seconds_left) == ("missed", -1)


def test_open_statuses() -> None:
    assert [s for s in Status if lifecycle.is_open(s)] == [
        Status.DECLARED,
        Status.INVESTIGATING,
        Status.MITIGATED,
    ]
