"""Client-side leaky bucket that keeps a process under the portal's request-rate limit.

Bitrix24 counts requests per portal (and source IP) in a leaky bucket: the counter grows by one
per request and drains at a fixed rate; past the threshold the portal answers 503
``QUERY_LIMIT_EXCEEDED``. Mirroring that bucket on our side means we wait instead of being
refused. All clients of one portal inside a process share one bucket (:func:`shared_bucket`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_BURST = 50
DEFAULT_PER_SECOND = 2.0


class LeakyBucket:
    """Thread-safe leaky bucket: ``capacity`` requests at once, draining ``leak_per_second``."""

    def __init__(
        self,
        capacity: float = DEFAULT_BURST,
        leak_per_second: float = DEFAULT_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity < 1 or leak_per_second <= 0:
            raise ValueError("rate limit needs burst >= 1 and per_second > 0")
        self.capacity = float(capacity)
        self.leak_per_second = float(leak_per_second)
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._updated = clock()
        self._lock = threading.Lock()

    def _drain(self, now: float) -> None:
        self._level = max(0.0, self._level - (now - self._updated) * self.leak_per_second)
        self._updated = now

    def reserve(self) -> float:
        """Take one slot and return how long the caller must wait before sending."""
        with self._lock:
            self._drain(self._clock())
            self._level += 1.0  # reserved even when we must wait: later callers queue behind
            excess = self._level - self.capacity
            return excess / self.leak_per_second if excess > 0 else 0.0

    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self) -> None:
        """The portal refused us for rate: treat our bucket as full so every thread slows down."""
        with self._lock:
            self._drain(self._clock())
            self._level = max(self._level, self.capacity)

    def reconfigure(self, capacity: float, leak_per_second: float) -> None:
        with self._lock:
            self.capacity = float(capacity)
            self.leak_per_second = float(leak_per_second)


_SHARED: dict[str, LeakyBucket] = {}
_SHARED_LOCK = threading.Lock()


def shared_bucket(portal_key: str, capacity: float = DEFAULT_BURST, leak_per_second: float = DEFAULT_PER_SECOND) -> LeakyBucket:
    """The process-wide bucket of one portal; the latest configuration wins."""
    with _SHARED_LOCK:
        bucket = _SHARED.get(portal_key)
        if bucket is None:
            bucket = _SHARED[portal_key] = LeakyBucket(capacity, leak_per_second)
        elif (bucket.capacity, bucket.leak_per_second) != (float(capacity), float(leak_per_second)):
            bucket.reconfigure(capacity, leak_per_second)
        return bucket
