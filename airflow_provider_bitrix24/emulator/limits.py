"""The two cloud limits: request intensity (leaky bucket) and method operating time."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


class LeakyBucket:
    """Every HTTP request adds one; the level drains at ``leak_per_second``. As the limits page
    words it, once the counter *exceeds* ``capacity`` the following request is refused (and not
    counted): from empty, ``capacity + 1`` requests pass and the next one gets 503."""

    def __init__(self, capacity: float, leak_per_second: float, clock=time.monotonic) -> None:
        self.capacity = capacity
        self.leak_per_second = leak_per_second
        self._clock = clock
        self._level = 0.0
        self._stamp = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = self._clock()
            self._level = max(0.0, self._level - (now - self._stamp) * self.leak_per_second)
            self._stamp = now
            if self._level > self.capacity:
                return False
            self._level += 1
            return True

    @property
    def level(self) -> float:
        with self._lock:
            now = self._clock()
            return max(0.0, self._level - (now - self._stamp) * self.leak_per_second)


@dataclass
class _Basket:
    opened_at: float  # wall-clock time of the first call in this basket
    seconds: float = 0.0


@dataclass
class _Meter:
    baskets: deque = field(default_factory=deque)


class OperatingLimiter:
    """Accumulated execution time per (identity, method) over ``baskets`` baskets of
    ``basket_seconds`` each. A basket opens with the first call after the previous one's minute
    ended and is dropped ``baskets * basket_seconds`` after it opened (``operating_reset_at``)."""

    def __init__(
        self, limit: float | None, basket_seconds: float = 60.0, baskets: int = 10, clock=time.time
    ) -> None:
        self.limit = limit
        self.basket_seconds = basket_seconds
        self.baskets = baskets
        self._clock = clock
        self._meters: dict[tuple[str, str], _Meter] = {}
        self._lock = threading.Lock()

    @property
    def window(self) -> float:
        return self.basket_seconds * self.baskets

    def _expire(self, meter: _Meter, now: float) -> None:
        while meter.baskets and meter.baskets[0].opened_at + self.window <= now:
            meter.baskets.popleft()

    def state(self, identity: str, method: str) -> tuple[float, int | None]:
        """(operating seconds, operating_reset_at) for this identity and method right now."""
        with self._lock:
            meter = self._meters.get((identity, method))
            if meter is None:
                return 0.0, None
            self._expire(meter, self._clock())
            if not meter.baskets:
                return 0.0, None
            total = sum(b.seconds for b in meter.baskets)
            return total, int(meter.baskets[0].opened_at + self.window)

    def blocked(self, identity: str, method: str) -> bool:
        if self.limit is None:
            return False
        operating, _ = self.state(identity, method)
        return operating > self.limit

    def record(self, identity: str, method: str, seconds: float) -> None:
        """Book ``seconds`` of execution for a call that has just run."""
        with self._lock:
            meter = self._meters.setdefault((identity, method), _Meter())
            now = self._clock()
            self._expire(meter, now)
            if not meter.baskets or now >= meter.baskets[-1].opened_at + self.basket_seconds:
                meter.baskets.append(_Basket(opened_at=now))
            meter.baskets[-1].seconds += seconds

    def clear(self) -> None:
        with self._lock:
            self._meters.clear()
