"""The per-destination circuit breaker for outbound deliveries: a pure state machine driven by `now`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from missionctl.notifications.breaker import BreakerBoard, BreakerState, Transition

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOOK = ("webhook", "https://hooks.example.com/a")
OTHER = ("webhook", "https://hooks.example.com/b")


def board(**kwargs: object) -> BreakerBoard:
    defaults: dict[str, object] = {
        "failures": 3,
        "cooldown": timedelta(seconds=10),
        "max_cooldown": timedelta(seconds=60),
    }
    return BreakerBoard(**(defaults | kwargs))  # type: ignore[arg-type]


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fail(b: BreakerBoard, times: int, at: datetime, key: tuple[str, str] = HOOK) -> list[Transition | None]:
    return [b.record(key, ok=False, now=at) for _ in range(times)]


def test_closed_until_the_threshold_of_failures_in_a_row_then_open_for_the_cooldown() -> None:
    b = board()
    assert fail(b, 2, s(0)) == [None, None]
    assert b.admit(HOOK, s(0)).allowed
    assert fail(b, 1, s(1)) == [Transition.OPENED]
    refused = b.admit(HOOK, s(2))
    assert not refused.allowed and refused.state is BreakerState.OPEN
    assert refused.retry_at == s(11) and refused.failures == 3
    assert b.admit(OTHER, s(2)).allowed  # destinations are independent


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    b = board()
    fail(b, 2, s(0))
    assert b.record(HOOK, ok=True, now=s(1)) is None
    assert fail(b, 2, s(2)) == [None, None]
    assert b.status(HOOK, s(2)).state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_trial_through_and_its_success_closes_the_breaker() -> None:
    b = board()
    fail(b, 3, s(0))
    trial = b.admit(HOOK, s(10))
    assert trial.allowed and trial.trial and trial.state is BreakerState.HALF_OPEN
    waiting = b.admit(HOOK, s(10.5))
    assert not waiting.allowed and waiting.state is BreakerState.HALF_OPEN and waiting.retry_at == s(12.5)
    assert b.record(HOOK, ok=True, now=s(11)) is Transition.CLOSED
    assert b.admit(HOOK, s(11)).allowed and b.status(HOOK, s(11)).state is BreakerState.CLOSED
    assert fail(b, 2, s(12)) == [None, None]  # closed afresh: the threshold counts again from zero


def test_a_failed_trial_reopens_with_a_doubled_cooldown_capped() -> None:
    b = board(max_cooldown=timedelta(seconds=30))
    fail(b, 3, s(0))  # open until 10
    assert b.admit(HOOK, s(10)).trial
    assert b.record(HOOK, ok=False, now=s(10)) is Transition.REOPENED
    assert b.admit(HOOK, s(29)).retry_at == s(30)  # 20 s
    assert b.admit(HOOK, s(30)).trial
    assert b.record(HOOK, ok=False, now=s(30)) is Transition.REOPENED
    assert b.admit(HOOK, s(31)).retry_at == s(60)  # 40 s, capped at 30
    assert [b.cooldown_for(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 30, 30]


def test_late_failures_of_deliveries_sent_before_the_breaker_opened_do_not_extend_it() -> None:
    b = board()
    fail(b, 3, s(0))
    assert fail(b, 5, s(5)) == [None] * 5
    assert b.admit(HOOK, s(10)).trial


def test_a_trial_that_never_reports_is_given_up_after_the_trial_timeout() -> None:
    b = board(trial_timeout=timedelta(seconds=30))
    fail(b, 3, s(0))
    assert b.admit(HOOK, s(10)).trial
    assert not b.admit(HOOK, s(39)).allowed
    assert b.admit(HOOK, s(40)).trial


def test_a_released_trial_lets_the_next_delivery_be_the_trial() -> None:
    b = board()
    fail(b, 3, s(0))
    assert b.admit(HOOK, s(10)).trial
    b.release(HOOK)
    assert b.admit(HOOK, s(10)).trial


def test_a_success_while_open_closes_it_the_destination_works_again() -> None:
    b = board()
    fail(b, 3, s(0))
    assert b.record(HOOK, ok=True, now=s(1)) is Transition.CLOSED
    assert b.admit(HOOK, s(1)).allowed


def test_statuses_and_the_bound_on_destinations() -> None:
    b = board(max_destinations=2)
    fail(b, 3, s(0), HOOK)
    fail(b, 1, s(0), OTHER)
    assert b.open_count(s(1)) == 1
    assert {st.key: st.state for st in b.statuses(s(10))} == {HOOK: BreakerState.HALF_OPEN, OTHER: BreakerState.CLOSED}
    fail(b, 1, s(0), ("email", "x@example.com"))
    assert len(b.statuses(s(0))) == 2 and b.status(HOOK, s(0)).state is BreakerState.CLOSED  # least recent forgotten


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failures": 0},
        {"cooldown": timedelta(0)},
        {"cooldown": timedelta(seconds=10), "max_cooldown": timedelta(seconds=5)},
        {"trial_wait": timedelta(0)},
        {"max_destinations": 0},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        board(**kwargs)


def test_only_one_trial_among_many_threads() -> None:
    b = board()
    fail(b, 3, s(0))
    trials: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        admission = b.admit(HOOK, s(10))
        with lock:
            trials.append(admission.trial)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert trials.count(True) == 1
