"""Token buckets per destination: bursts, refill, waits, LRU bound; time is passed in."""

from __future__ import annotations

import threading

import pytest

from missionctl.notifications.channels import ChannelKind, Destination
from missionctl.notifications.throttle import DestinationThrottle, TokenBucket

HOOK = Destination(ChannelKind.WEBHOOK, "https://hooks.example.com/a")


def test_burst_then_wait_for_refill() -> None:
    bucket = TokenBucket(rate_per_second=2.0, burst=3)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.25) == pytest.approx(0.25)  # refused takes consume nothing
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) == pytest.approx(0.5)


def test_refill_never_exceeds_burst() -> None:
    bucket = TokenBucket(rate_per_second=1.0, burst=2)
    bucket.take(0.0)
    assert bucket.available(1_000.0) == 2.0
    assert [bucket.take(1_000.0) for _ in range(3)][:2] == [0.0, 0.0]


def test_clock_going_backwards_does_not_refill() -> None:
    bucket = TokenBucket(rate_per_second=1.0, burst=1)
    assert bucket.take(50.0) == 0.0
    assert bucket.take(10.0) == pytest.approx(1.0)
    assert bucket.take(50.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_invalid_parameters(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
    with pytest.raises(ValueError):
        DestinationThrottle(rate, burst)


def test_destinations_are_throttled_independently() -> None:
    throttle = DestinationThrottle(rate_per_second=1.0, burst=1)
    other = Destination(ChannelKind.WEBHOOK, "https://hooks.example.com/b")
    same_address_other_kind = Destination(ChannelKind.APPRISE, HOOK.address)
    assert throttle.take(HOOK, 0.0) == 0.0
    assert throttle.take(HOOK, 0.0) == pytest.approx(1.0)
    assert throttle.take(other, 0.0) == 0.0
    assert throttle.take(same_address_other_kind, 0.0) == 0.0


def test_least_recently_used_bucket_is_evicted() -> None:
    throttle = DestinationThrottle(rate_per_second=1.0, burst=1, max_destinations=2)
    a, b, c = (Destination(ChannelKind.EMAIL, f"{n}@example.com") for n in "abc")
    throttle.take(a, 0.0)
    throttle.take(b, 0.0)
    throttle.take(a, 0.0)  # touches a: b is now the least recently used
    throttle.take(c, 0.0)
    assert len(throttle) == 2
    assert a in throttle and c in throttle and b not in throttle
    assert throttle.take(b, 0.0) == 0.0  # forgotten, so it comes back with a full bucket


def test_concurrent_takes_never_overspend() -> None:
    throttle = DestinationThrottle(rate_per_second=1.0, burst=50)
    allowed: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            wait = throttle.take(HOOK, 0.0)
            if wait == 0.0:
                with lock:
                    allowed.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 50
