"""Pacing calls and batches under the portal's per-method operating-time limit.

The cloud portal sums each method's execution time per webhook or application over ten
one-minute baskets and refuses the method once the sum passes the limit (480 s by default).
A batch that crosses the limit mid-way comes back partly done, and a request sent while the
method is blocked is refused outright: either way the rest must be sent again, in more
requests, after the wait; a write refused inside a batch fails. With several batches in
flight every one of them is caught.

:class:`OperatingPacer` keeps an upper bound of the method's sum and holds a request back
until its estimated cost fits under the limit. The bound is

* our own calls, each counted from its reply until ``window`` seconds after it; the portal
  drops a call no later than that (its basket opened at or before the call);
* plus what requests in flight are expected to cost (their reservation);
* plus what the portal reports beyond our own calls (other workers on the same webhook).

It never undercounts our own work whether the portal books a call when it starts or when it
ends, so a client paced by it is not refused on account of itself; near the limit fewer requests
are in flight until earlier calls age out. Waiting here costs little: the time would be spent
waiting for the refusal to lift anyway. The client's reactive path still handles a refusal
(another process, a slower portal than estimated).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_OPERATING_LIMIT = 480.0  # seconds per method per window (the cloud's default)
DEFAULT_OPERATING_WINDOW = 600.0  # ten one-minute baskets
COST_MARGIN = 1.25  # a request is reserved at this multiple of its calls' mean cost so far
# A job is "far below the limit" when it would stay under this share of it even if each call
# cost UNKNOWN_CALL_COST seconds (a 50-row list page without COUNT runs about 0.07 s in the
# docs' large-export guide; writes cost about as much): such a job does not wait for a
# method's first reply before sending the rest.
UNKNOWN_CALL_COST = 0.2
SMALL_JOB_SHARE = 0.25
LOG_INTERVAL = 30.0  # seconds between two "pacing" log lines of one method
# When a method's booked time crosses this share of the limit, the portal is getting busy for
# everybody on the webhook: the adaptive rate limiter falls as it does after a refusal.
NEAR_LIMIT_SHARE = 0.8


def operating_rises(before: float, after: float, limit: float | None) -> bool:
    """True when a method's booked operating time goes from below ``NEAR_LIMIT_SHARE`` of
    ``limit`` to at or above it (the signal fires once per crossing, not on every reply)."""
    if not limit:
        return False
    mark = limit * NEAR_LIMIT_SHARE
    return before < mark <= after


@dataclass
class _Method:
    spent: deque = field(default_factory=deque)  # (expires_at, seconds) of our calls, oldest first
    spent_total: float = 0.0
    reserved: float = 0.0  # expected cost of requests in flight
    others: float = 0.0  # the portal's sum beyond ours, as last reported
    calls: int = 0
    call_seconds: float = 0.0
    logged_at: float = float("-inf")
    first_sent: bool = False  # the first request ran alone: nothing was known of the cost before it
    first_done: bool = False


class OperatingPacer:
    """Upper bound of each method's operating time, to hold requests back before the limit.

    ``limit`` ``None`` disables pacing (every request proceeds at once). Thread-safe.
    """

    def __init__(
        self,
        limit: float | None = DEFAULT_OPERATING_LIMIT,
        window: float = DEFAULT_OPERATING_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = None if not limit else float(limit)
        self.window = float(window)
        self._clock = clock
        self._methods: dict[str, _Method] = {}
        self._cond = threading.Condition(threading.RLock())

    def record(self, method: str, block: Any) -> bool:
        """Account one successful call from its reply's ``time`` block (needs ``operating``).
        Returns :func:`operating_rises` for the method: its time just came near the limit."""
        if self.limit is None or not isinstance(block, Mapping) or block.get("operating") is None:
            return False
        try:
            seconds = float(block.get("processing") or block.get("duration") or 0.0)
            reported = float(block["operating"])
        except (TypeError, ValueError):
            return False
        with self._cond:
            state = self._methods.setdefault(method.lower(), _Method())
            now = self._clock()
            self._expire(state, now)
            before = state.spent_total + state.reserved + state.others
            state.spent.append((now + self.window, seconds))
            state.spent_total += seconds
            state.calls += 1
            state.call_seconds += seconds
            # Only what exceeds everything we account for is somebody else's.
            state.others = max(0.0, reported - state.spent_total - state.reserved)
            return operating_rises(before, state.spent_total + state.reserved + state.others, self.limit)

    @staticmethod
    def _estimate(state: _Method, calls: int) -> float:
        return calls * state.call_seconds / state.calls * COST_MARGIN if state.calls else 0.0

    def used(self, method: str) -> float:
        """The current upper bound of the method's operating time, reservations included."""
        with self._cond:
            state = self._methods.get(method.lower())
            if state is None:
                return 0.0
            self._expire(state, self._clock())
            return state.spent_total + state.reserved + state.others

    def reserve(self, method: str, calls: int) -> contextlib.AbstractContextManager[None]:
        """:meth:`reserve_many` for one method."""
        return self.reserve_many({method: calls})

    @contextlib.contextmanager
    def reserve_many(
        self, calls_by_method: Mapping[str, int], job: Mapping[str, int] | None = None
    ) -> Iterator[None]:
        """Hold the caller until the calls (per method) fit under the limit, and count them as
        in flight until the block ends.

        ``job``: the calls of the whole job this request belongs to (by default the request
        itself). When the job could cross the limit, a method's first request goes alone: until
        its reply nothing is known of the cost nor of what other workers already used, so
        requests sent beside it could not be paced. A job far below the limit (see
        ``SMALL_JOB_SHARE``) goes at once. Nothing is held while waiting (all methods are
        reserved at once, when all fit), so requests of several methods cannot wait on each
        other in a cycle."""
        if self.limit is None:
            yield
            return
        wanted, small_job = self.wanted(calls_by_method, job)
        with self._cond:
            while True:
                wait, costs = self.admit(wanted, small_job)
                if wait == 0:
                    break
                self._cond.wait(timeout=wait)  # None: until the method's first request ends
        try:
            yield
        finally:
            self.release(costs)

    # The steps of :meth:`reserve_many`, for a shell that waits its own way (the async client).

    def wanted(
        self, calls_by_method: Mapping[str, int], job: Mapping[str, int] | None = None
    ) -> tuple[dict[str, int], bool]:
        """The calls per method (lower-cased) and whether the job is far below the limit."""
        wanted: dict[str, int] = {}
        for method, calls in calls_by_method.items():
            wanted[method.lower()] = wanted.get(method.lower(), 0) + calls
        whole = sum((job or calls_by_method).values())
        return wanted, whole * UNKNOWN_CALL_COST <= (self.limit or 0.0) * SMALL_JOB_SHARE

    def admit(self, wanted: Mapping[str, int], small_job: bool) -> tuple[float | None, dict[str, float]]:
        """Reserve the calls if they fit now: ``(0, costs)`` (pass ``costs`` to :meth:`release`
        when the request ends); else ``(seconds to wait, {})``, ``None`` meaning until a
        method's first request ends. Takes the lock (re-entrant with :meth:`reserve_many`'s)."""
        with self._cond:
            states = {key: self._methods.setdefault(key, _Method()) for key in wanted}
            if not small_job and any(state.first_sent and not state.first_done for state in states.values()):
                return None, {}
            now = self._clock()
            costs = {key: self._estimate(state, wanted[key]) for key, state in states.items()}
            wait = max(
                (self._wait_for(key, state, costs[key], now) for key, state in states.items()),
                default=0.0,
            )
            if wait > 0:
                return wait, {}
            for key, state in states.items():
                state.first_sent = True
                state.reserved += costs[key]
            return 0.0, costs

    def release(self, costs: Mapping[str, float]) -> None:
        """The request that :meth:`admit` let through has ended."""
        with self._cond:
            for key, cost in costs.items():
                state = self._methods[key]
                state.reserved -= cost
                state.first_done = True
            self._cond.notify_all()

    def _wait_for(self, key: str, state: _Method, cost: float, now: float) -> float:
        """Seconds ``cost`` more of ``key`` must wait (0: it may go now), logged now and then."""
        if not cost:
            return 0.0  # the first request, or a portal that reports no operating time
        self._expire(state, now)
        used = state.spent_total + state.reserved + state.others
        wait = self._until_room(state, used, cost, now)
        if wait is None or wait <= 0:
            # None: it cannot fit even once our calls age out (others use the method, or one
            # request costs more than the limit); send it and let the portal decide.
            return 0.0
        if now - state.logged_at >= LOG_INTERVAL:
            state.logged_at = now
            log.info(
                "%s: pacing for the operating-time limit: about %.1f of %.1f s used, "
                "requests (~%.1f s each) wait for earlier calls to age out or finish",
                key,
                used,
                self.limit,
                cost,
            )
        return wait

    def _until_room(self, state: _Method, used: float, cost: float, now: float) -> float | None:
        """Seconds until ``cost`` fits (0: now), ``None`` if our own calls aging out never
        make room. A reservation ending sooner wakes the waiter earlier."""
        assert self.limit is not None
        if used + cost <= self.limit:
            return 0.0
        for expires_at, seconds in state.spent:
            used -= seconds
            if used + cost <= self.limit:
                return max(expires_at - now, 0.001)
        if state.reserved > 0:
            return self.window  # only the requests in flight can make room: their end notifies
        return None

    @staticmethod
    def _expire(state: _Method, now: float) -> None:
        while state.spent and state.spent[0][0] <= now:
            _expires, seconds = state.spent.popleft()
            state.spent_total -= seconds
        if not state.spent:
            state.spent_total = 0.0  # no float drift once nothing is left
