"""Pure per-destination rate limiting: token buckets keyed by destination, LRU-bounded, no clock reads."""

from __future__ import annotations

import threading
from collections import OrderedDict

from missionctl.notifications.channels import Destination

DEFAULT_MAX_DESTINATIONS = 10_000


class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate_per_second`; each send takes one.

    `now` is monotonic seconds supplied by the caller; the bucket starts full at its first `take`.
    """

    def __init__(self, rate_per_second: float, burst: int) -> None:
        if not rate_per_second > 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        if self._updated is None or now > self._updated:
            self._updated = now  # a clock going backwards neither refills nor rewinds

    def take(self, now: float) -> float:
        """Take a token and return 0.0, or take nothing and return the seconds until one is due."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def available(self, now: float) -> float:
        """Tokens available at `now` (fractional), without taking one."""
        self._refill(now)
        return self._tokens


class DestinationThrottle:
    """One `TokenBucket` per destination (kind + address); past the bound the least recently used goes.

    A forgotten destination comes back with a full bucket, so keep `max_destinations` above the number
    of destinations that are busy at once. Safe to share between threads.
    """

    def __init__(self, rate_per_second: float, burst: int, *, max_destinations: int = DEFAULT_MAX_DESTINATIONS) -> None:
        TokenBucket(rate_per_second, burst)  # validate the parameters now, not at the first take
        if max_destinations < 1:
            raise ValueError("max_destinations must be at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self.max_destinations = max_destinations
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, destination: Destination, now: float) -> float:
        """0.0 if `destination` may be sent to now (a token is taken), else the seconds to wait."""
        key = (destination.kind.value, destination.address)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
                if len(self._buckets) > self.max_destinations:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket.take(now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def __contains__(self, destination: object) -> bool:
        if not isinstance(destination, Destination):
            return False
        with self._lock:
            return (destination.kind.value, destination.address) in self._buckets
